/**
 * Blocked: a pair waiting (new or reprocess) that cannot get done as things stand, as Airflow's
 * `upstream_failed`. A derived display status, never stored: it clears by itself when its cause does
 * (a reprocess of the failed dependency, an unlock, a reactivation). Causes, first match wins:
 * campaign deactivated; workflow inactive; a lock in force; a dependency failed for good or
 * blocked itself; an era with a blocked run (an era unit waits for every run of it); the trailing runs of an
 * `every N` workflow when no other run is on its way to fill their group. Pure; one pass over the pairs.
 */
import { activeWorkflows, activityOf, type Campaign } from './campaign.js';
import { lockHolds, type LockRecord } from './jobs.js';
import { dependencyOrder } from './order.js';
import { stateKey, type RegisteredRun, type RunState } from './state.js';
import { forEachStatus, statusAt } from './state-table.js';
import { isPending, RUN_STATUSES, type RunStatus } from './status.js';
import type { WorkflowSpec } from './workflow.js';

/** The run statuses plus the derived `blocked`: what views show and count. */
export const DISPLAY_STATUSES = [...RUN_STATUSES, 'blocked'] as const;
export type DisplayStatus = (typeof DISPLAY_STATUSES)[number];

export function isDisplayStatus(s: string): s is DisplayStatus {
  return (DISPLAY_STATUSES as readonly string[]).includes(s);
}

export const BLOCK_KINDS = [
  'deactivated',
  'inactive-workflow',
  'lock',
  'dependency',
  'era',
  'group',
] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

export interface BlockCause {
  kind: BlockKind;
  /** One line for a person, saying what clears it. */
  text: string;
}

export interface BlockInput {
  campaign: Campaign;
  states: ReadonlyMap<string, RunState>;
  registered: ReadonlyMap<number, RegisteredRun>;
  locks: readonly LockRecord[];
}

/** Every blocked pair, keyed by stateKey(run, workflow). */
export type Blocked = ReadonlyMap<string, BlockCause>;

export function blockedPairs(all: BlockInput): Blocked {
  const c = all.campaign;
  const input = { ...all, locks: all.locks.filter((l) => l.campaign === c.name) };
  const pending = new Map<string, number[]>();
  forEachStatus(input.states, (w, run, s) => {
    if (!isPending(s)) return;
    let l = pending.get(w);
    if (!l) pending.set(w, (l = []));
    l.push(run);
  });
  const out = new Map<string, BlockCause>();
  const active = new Set(activeWorkflows(c));
  const deactivated = activityOf(c) === 'deactivated';
  for (const w of dependencyOrder(pending.keys(), c.workflows)) {
    const runs = (pending.get(w) ?? []).sort((a, b) => a - b);
    const spec = c.workflows.find((x) => x.name === w);
    const own = (run: number): BlockCause | undefined =>
      deactivated
        ? { kind: 'deactivated', text: `campaign ${c.name} is deactivated (reactivate it)` }
        : !active.has(w)
          ? { kind: 'inactive-workflow', text: `workflow ${w} is not active in any run type` }
          : // a workflow without a definition waits for one (why says so); it is not judged blocked
            spec && ownCause(input, out, spec, run);
    for (const run of runs) {
      const why = own(run);
      if (why) out.set(stateKey(run, w), why);
    }
    if (spec?.granularity.kind === 'era') blockEras(input, out, w, runs);
    else if (spec?.granularity.kind === 'every') blockGroup(input, out, spec, runs, spec.granularity.n);
  }
  return out;
}

function ownCause(input: BlockInput, out: Blocked, spec: WorkflowSpec, run: number): BlockCause | undefined {
  const lock = lockHolds(input.locks, spec.name, run);
  if (lock)
    return {
      kind: 'lock',
      text: `held by a lock from run ${lock.fromRun} by ${lock.by} since ${new Date(lock.time).toISOString()}: ${lock.reason} (unlock to go on)`,
    };
  for (const d of spec.dependsOn) {
    const k = stateKey(run, d);
    if (statusAt(input.states, k) === 'failed')
      return { kind: 'dependency', text: `${d} failed for good (reprocess ${d} to go on)` };
    const inner = out.get(k);
    if (inner) return { kind: 'dependency', text: `${d} is blocked: ${inner.text}` };
  }
  return undefined;
}

/** An era unit waits for every waiting run of its era: one blocked run blocks the others. */
function blockEras(input: BlockInput, out: Map<string, BlockCause>, w: string, runs: number[]): void {
  const eraOf = (run: number): string => input.registered.get(run)?.era ?? 'unknown';
  const firstBlocked = new Map<string, number>();
  for (const run of runs)
    if (out.has(stateKey(run, w)) && !firstBlocked.has(eraOf(run))) firstBlocked.set(eraOf(run), run);
  for (const run of runs) {
    const era = eraOf(run);
    const by = firstBlocked.get(era);
    const k = stateKey(run, w);
    if (by === undefined || out.has(k)) continue;
    out.set(k, {
      kind: 'era',
      text: `era ${era} cannot complete: run ${by} is blocked (${out.get(stateKey(by, w))?.text ?? ''})`,
    });
  }
}

/**
 * `every N`: the planner cuts the ready runs into groups of N; when every waiting run not blocked is ready
 * (none is on its way), the trailing remainder waits for runs not yet injected.
 */
function blockGroup(
  input: BlockInput,
  out: Map<string, BlockCause>,
  spec: WorkflowSpec,
  runs: number[],
  n: number,
): void {
  const candidates = runs.filter((r) => !out.has(stateKey(r, spec.name)));
  const ready = (run: number): boolean =>
    spec.dependsOn.every((d) => statusAt(input.states, stateKey(run, d)) === 'done');
  if (!candidates.every(ready)) return;
  const rest = candidates.length % n;
  for (const run of candidates.slice(candidates.length - rest))
    out.set(stateKey(run, spec.name), {
      kind: 'group',
      text: `a group of ${n} needs ${n - rest} more run(s) and none is on its way (inject more runs)`,
    });
}

/** What a view shows for a pair: its status, or `blocked`. */
export function displayStatus(blocked: Blocked, key: string, s: RunStatus): DisplayStatus {
  return isPending(s) && blocked.has(key) ? 'blocked' : s;
}

/** A count of zero for every display status. */
export function emptyDisplayCounts(): Record<DisplayStatus, number> {
  return Object.fromEntries(DISPLAY_STATUSES.map((s) => [s, 0])) as Record<DisplayStatus, number>;
}
