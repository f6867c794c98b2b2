/** The pure planning step of `inject`: what to register and which statuses to set. */
import { matches } from './filter.js';
import type { Campaign } from './campaign.js';
import type { RunInfo } from './run.js';
import { stateKey, type RegisteredRun, type RunState, type RunStateChange } from './state.js';

export const INJECT_MODES = ['missing', 'failed', 'all'] as const;
export type InjectMode = (typeof INJECT_MODES)[number];

export interface InjectPlan {
  /** Runs to register (new, or whose matching run types changed). */
  register: { info: RunInfo; rtypes: string[] }[];
  /** Status points to write. */
  changes: RunStateChange[];
  /** Pairs left as they are, counted by reason. */
  kept: Record<string, number>;
  /** Runs that match no run type with active workflows. */
  unmatched: number[];
}

/** Run types whose filter matches the run. */
export function matchingRtypes(c: Campaign, r: RunInfo): string[] {
  return c.rtypes.filter((t) => matches(t.filter, r)).map((t) => t.name);
}

export function planInject(
  c: Campaign,
  runs: readonly RunInfo[],
  current: ReadonlyMap<string, RunState>,
  registered: ReadonlyMap<number, RegisteredRun>,
  mode: InjectMode,
): InjectPlan {
  const plan: InjectPlan = { register: [], changes: [], kept: {}, unmatched: [] };
  const keep = (why: string): void => {
    plan.kept[why] = (plan.kept[why] ?? 0) + 1;
  };
  // the active workflows of each combination of matching run types, computed once per combination
  const byCombination = new Map<string, string[]>();
  for (const r of runs) {
    const rtypes = matchingRtypes(c, r);
    const combination = rtypes.join(',');
    const prev = registered.get(r.run);
    if (!prev || prev.rtypes.join(',') !== combination) plan.register.push({ info: r, rtypes });
    let workflows = byCombination.get(combination);
    if (!workflows) {
      workflows = [...new Set(c.rtypes.filter((t) => rtypes.includes(t.name)).flatMap((t) => t.workflows))];
      byCombination.set(combination, workflows);
    }
    if (workflows.length === 0) {
      plan.unmatched.push(r.run);
      continue;
    }
    for (const w of workflows) {
      const s = current.size === 0 ? undefined : current.get(stateKey(r.run, w));
      if (!s) {
        plan.changes.push({ run: r.run, workflow: w, status: 'new' });
        continue;
      }
      const redo = (): void => {
        plan.changes.push({ run: r.run, workflow: w, status: 'reprocess', attempt: s.attempt, tries: 0 });
      };
      if (mode === 'missing') keep(`already ${s.status}`);
      else if (mode === 'failed') {
        if (s.status === 'failed') redo();
        else keep(`already ${s.status}`);
      } else if (s.status === 'processing') keep('processing (jobs in flight)');
      else if (s.status === 'new' || s.status === 'reprocess') keep(`already ${s.status}`);
      else redo();
    }
  }
  return plan;
}
