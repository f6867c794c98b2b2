/**
 * The pairs downstream of a set of runs of a workflow (pure): for `reprocess --with-dependents`. Every workflow
 * depending on the workflow, transitively, for the same runs; an era or group workflow for whole units (the
 * runs its last job covered), and its own dependents then follow the runs it takes.
 */
import type { Campaign } from './campaign.js';
import type { JobRecord } from './jobs.js';
import { latestJobs } from './planner.js';
import { stateKey, type RunState } from './state.js';
import { topoOrder } from './workflow.js';

export interface DownstreamPairs {
  workflow: string;
  /** The workflow's pairs for the runs it takes, in run order. */
  states: RunState[];
}

/**
 * The downstream workflows of `workflow` (in dependency order) with their pairs for the runs that change: the
 * runs given for the workflow itself, and for each dependent the union of its dependencies' runs, widened to the
 * units of an era or group workflow.
 */
export function downstreamPairs(
  c: Campaign,
  states: ReadonlyMap<string, RunState>,
  jobs: ReadonlyMap<string, JobRecord>,
  workflow: string,
  runs: Iterable<number>,
): DownstreamPairs[] {
  const changing = new Map<string, Set<number>>([[workflow, new Set(runs)]]);
  let latest: Map<string, JobRecord> | undefined;
  const out: DownstreamPairs[] = [];
  for (const spec of topoOrder(c.workflows)) {
    if (spec.name === workflow) continue;
    const from = spec.dependsOn.flatMap((d) => [...(changing.get(d) ?? [])]);
    if (from.length === 0) continue;
    const take = new Set(from);
    if (spec.granularity.kind !== 'run') {
      // the whole unit of each run: the runs of the job that made the pair's current result
      latest ??= latestJobs(jobs.values());
      for (const r of from) {
        const s = states.get(stateKey(r, spec.name));
        const j = latest.get(stateKey(r, spec.name));
        if (s && j && j.attempt === s.attempt) for (const u of j.runs) take.add(u);
      }
    }
    const pairs = [...take]
      .sort((a, b) => a - b)
      .flatMap((r) => {
        const s = states.get(stateKey(r, spec.name));
        return s ? [s] : [];
      });
    changing.set(spec.name, new Set(pairs.map((s) => s.run)));
    if (pairs.length > 0) out.push({ workflow: spec.name, states: pairs });
  }
  return out;
}
