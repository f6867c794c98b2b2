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

interface Combination {
  rtypes: readonly string[];
  /** The run types joined with ',' (as stored on the runinfo point). */
  key: string;
  /** Their active workflows, each once. */
  workflows: readonly string[];
}

/**
 * The matching run types of a run and their workflows, computed once per combination (a bit mask over the
 * campaign's run types) rather than once per run.
 */
function combinationsOf(c: Campaign): (r: RunInfo) => Combination {
  const cache = new Map<string | number, Combination>();
  const byMask = c.rtypes.length <= 30;
  return (r) => {
    let mask = 0;
    let bits = '';
    for (let i = 0; i < c.rtypes.length; i++) {
      const on = matches((c.rtypes[i] as Campaign['rtypes'][number]).filter, r);
      if (byMask) mask |= on ? 1 << i : 0;
      else bits += on ? '1' : '0';
    }
    const id = byMask ? mask : bits;
    let comb = cache.get(id);
    if (!comb) {
      const types = c.rtypes.filter((t, i) => (byMask ? (mask >>> i) & 1 : bits[i] === '1'));
      const rtypes = types.map((t) => t.name);
      comb = { rtypes, key: rtypes.join(','), workflows: [...new Set(types.flatMap((t) => t.workflows))] };
      cache.set(id, comb);
    }
    return comb;
  };
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
  const combinations = combinationsOf(c);
  for (const r of runs) {
    const { rtypes, key: combination, workflows } = combinations(r);
    const prev = registered.get(r.run);
    if (!prev || prev.rtypes.join(',') !== combination) plan.register.push({ info: r, rtypes: [...rtypes] });
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
