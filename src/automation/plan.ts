/**
 * Step 5 of a pass: the pure planner per campaign; its finalisations (done / retry / failed) are written and
 * applied to the held state, and the units to submit are returned.
 */
import { planPass, type UnitPlan } from '../domain/planner.js';
import { stateKey, type RunStateChange } from '../domain/state.js';
import { runStatePoint } from '../store/schema.js';
import type { Loaded, PassContext } from './pass.js';
import { tallyUnit } from './tally.js';

export interface PlannedUnit {
  l: Loaded;
  u: UnitPlan;
}

/**
 * Mirrors written state changes into the state the loop holds (pairs it does not hold are left alone); `time`,
 * when given, stamps them.
 */
export function applyStateChanges(l: Loaded, changes: readonly RunStateChange[], time?: number): void {
  for (const ch of changes) {
    const k = stateKey(ch.run, ch.workflow);
    const prev = l.states.get(k);
    if (!prev) continue;
    l.states.set(k, {
      ...prev,
      status: ch.status,
      attempt: ch.attempt ?? prev.attempt,
      tries: ch.tries ?? prev.tries,
      outputs: [...(ch.outputs ?? prev.outputs)],
      time: time ?? prev.time,
    });
  }
}

/** The finalised statuses, counted and applied to the state the loop holds. */
function applyChanges(l: Loaded, changes: readonly RunStateChange[]): void {
  for (const ch of changes) {
    if (ch.status === 'done') l.report.done++;
    if (ch.status === 'failed') l.report.failed++;
    if (ch.status === 'done' || ch.status === 'failed') tallyUnit(l.report, ch.workflow, ch.status);
  }
  applyStateChanges(l, changes);
}

export async function planCampaigns(x: PassContext, loaded: Loaded[]): Promise<PlannedUnit[]> {
  const units: PlannedUnit[] = [];
  for (const l of loaded) {
    const plan = planPass(l.campaign, l.states, l.registered, l.jobs, l.locks, {
      ignoreLocks: x.o.ignoreLocks ?? false,
      ...(x.o.maxSubmitPerWorkflow !== undefined ? { maxSubmitPerWorkflow: x.o.maxSubmitPerWorkflow } : {}),
    });
    l.report.waiting = plan.waiting;
    l.report.undefinedWorkflows = plan.undefinedWorkflows;
    for (const f of plan.failedForGood) x.report.failures.push({ campaign: l.campaign.name, ...f });
    await x.write(plan.finalize.map((ch) => runStatePoint(l.campaign.name, ch)));
    applyChanges(l, plan.finalize);
    for (const u of plan.submit) {
      if (u.retryOf) l.report.retried++;
      units.push({ l, u });
    }
  }
  return units;
}
