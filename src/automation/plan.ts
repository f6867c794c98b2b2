/**
 * Step 5 of a pass: the pure planner per campaign; its finalisations (done / retry / failed) are written and
 * applied to the held state, and the units to submit are returned.
 */
import { activeWorkflows } from '../domain/campaign.js';
import { planPass, type PassPlan, type UnitPlan } from '../domain/planner.js';
import { inputChangeMarks } from '../domain/stale.js';
import { stateKey, type RunState, type RunStateChange } from '../domain/state.js';
import { runStatePoint } from '../store/schema.js';
import { fault } from './fault.js';
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
    const next: RunState = {
      ...prev,
      status: ch.status,
      attempt: ch.attempt ?? prev.attempt,
      tries: ch.tries ?? prev.tries,
      outputs: [...(ch.outputs ?? prev.outputs)],
      time: time ?? prev.time,
    };
    // as written: a point without provenance clears it
    if (ch.inputsFrom) next.inputsFrom = ch.inputsFrom;
    else delete next.inputsFrom;
    l.states.set(k, next);
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

/**
 * Stale pairs of workflows that follow their inputs (`"on_input_change": "reprocess"`) set to reprocess, in one
 * write (then planned as any reprocess). A crash after the write leaves them reprocess (planned by the next
 * pass); before it, the next pass finds them stale again: nothing lost, nothing doubled. True when it marked.
 */
async function followInputChanges(x: PassContext, l: Loaded): Promise<boolean> {
  const marks = inputChangeMarks(l.campaign, l.states, new Set(activeWorkflows(l.campaign)));
  if (marks.length === 0) return false;
  await x.write(marks.map((ch) => runStatePoint(l.campaign.name, ch)));
  applyStateChanges(l, marks);
  l.report.inputChanged = (l.report.inputChanged ?? 0) + marks.length;
  fault('after-mark');
  return true;
}

/** The planner over a campaign's held state; its finalisations written and applied. */
async function planOnce(x: PassContext, l: Loaded): Promise<PassPlan> {
  const plan = planPass(l.campaign, l.states, l.registered, l.jobs, l.locks, {
    ignoreLocks: x.o.ignoreLocks ?? false,
    ...(x.o.maxSubmitPerWorkflow !== undefined ? { maxSubmitPerWorkflow: x.o.maxSubmitPerWorkflow } : {}),
  });
  for (const f of plan.failedForGood) x.report.failures.push({ campaign: l.campaign.name, ...f });
  await x.write(plan.finalize.map((ch) => runStatePoint(l.campaign.name, ch)));
  applyChanges(l, plan.finalize);
  return plan;
}

export async function planCampaigns(x: PassContext, loaded: Loaded[]): Promise<PlannedUnit[]> {
  const units: PlannedUnit[] = [];
  for (const l of loaded) {
    let plan = await planOnce(x, l);
    // stale pairs of followers whose parents are done (maybe finalised just now): marked, then planned again so
    // that they are submitted in this pass (the second plan has nothing left to finalise)
    if (await followInputChanges(x, l)) plan = await planOnce(x, l);
    l.report.waiting = plan.waiting;
    l.report.undefinedWorkflows = plan.undefinedWorkflows;
    for (const u of plan.submit) {
      if (u.retryOf) l.report.retried++;
      units.push({ l, u });
    }
  }
  return units;
}
