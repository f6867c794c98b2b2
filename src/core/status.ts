import { loadCampaign } from './campaigns.js';
import { againIfCorrupt } from '../store/snapshot.js';
import { activeWorkflows } from '../domain/campaign.js';
import {
  blockedPairs,
  displayStatus,
  emptyDisplayCounts,
  type Blocked,
  type DisplayStatus,
} from '../domain/blocked.js';
import { dependencyOrder } from '../domain/order.js';
import { stateKey } from '../domain/state.js';
import { emptyCounts, RUN_STATUSES, type RunStatus } from '../domain/status.js';
import type { Campaign } from '../domain/campaign.js';
import { campaignHealth, type CampaignHealth } from '../domain/loop-health.js';
import { readLoopHealth, workOf, type LoopHealthInput } from './loops.js';
import type { Ctx } from './context.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { readRunList, selectorKind, type RunSelector } from './runs.js';
import { UserError } from '../errors.js';
import { checkName } from '../domain/names.js';
import { forEachStatus } from '../domain/state-table.js';
import { staleResults } from '../domain/stale.js';

type PairStatus = { workflow: string; run: number; status: DisplayStatus };

export interface StatusOptions {
  campaign: string;
  workflow?: string;
  selector?: RunSelector;
}

export interface StatusRow {
  run: number;
  fill: number;
  era: string;
  rtypes: string[];
  /** The display status: a waiting pair that cannot get done shows `blocked` (src/domain/blocked.ts). */
  status: Record<string, DisplayStatus | null>;
  /** Workflows whose done result of this run is stale (its inputs changed since); absent: none. */
  stale?: string[];
}

export interface StatusResult {
  campaign: string;
  workflows: string[];
  rows: StatusRow[];
  /** Per workflow, pairs per display status (a blocked pair counts under blocked only). */
  totals: Record<string, Record<DisplayStatus, number>>;
  /** Malformed points skipped in the campaign's state (docs/malformed-points.md). */
  malformed: number;
  /** Done pairs per workflow whose inputs changed since (src/domain/stale.ts), in the selection. */
  stale: Record<string, number>;
  /** Which loop holds the campaign, its last pass, stale or not (times absolute: the JSON of one state is stable). */
  loop?: StatusLoop;
}

export type StatusLoop = Omit<CampaignHealth, 'sinceLastPassMs' | 'oldestInFlightAgeMs'>;

/**
 * The campaign's loop health, from the pairs' totals (has it work? blocked pairs cannot move, so they are
 * not work) and the heartbeats and leases.
 */
export function loopOf(
  c: Campaign,
  totals: StatusResult['totals'],
  h: LoopHealthInput,
): StatusLoop | undefined {
  const all = emptyCounts();
  for (const t of Object.values(totals)) for (const s of RUN_STATUSES) all[s] += t[s];
  const health = campaignHealth([workOf(c, all)], h.heartbeats, h.claims, h.now).get(c.name);
  if (!health) return undefined;
  const { sinceLastPassMs: _a, oldestInFlightAgeMs: _b, ...rest } = health;
  return rest;
}

/** Runs × workflows of a campaign with counts per status; selection by workflow, runs, range, era or run list. */
/** A forged snapshot found undecodable midway is refused and the state read again (docs/malformed-points.md). */
export async function status(ctx: Ctx, o: StatusOptions): Promise<StatusResult> {
  return againIfCorrupt(() => statusOnce(ctx, o));
}

async function statusOnce(ctx: Ctx, o: StatusOptions): Promise<StatusResult> {
  checkName('campaign', o.campaign);
  const sel = o.selector ?? {};
  const kind = selectorKind(sel);
  // the definition, the run list and the state are read together
  const [c, runs, current, locks, loops] = await allInOrder([
    loadCampaign(ctx, o.campaign),
    kind === 'runlist' ? readRunList(sel.runlist ?? '') : sel.runs,
    ctx.store.campaignState(o.campaign, undefined, { statusesOnly: true }),
    ctx.store.locks(o.campaign),
    readLoopHealth(ctx.store),
  ]);
  // blocked is judged over the whole campaign (a dependency or an era peer may lie outside the selection)
  const blocked = blockedPairs({ campaign: c, ...current, locks });
  const { states, registered } = selectState(current, blocked, runs, sel.range, o.workflow);
  const seen = new Set<string>(activeWorkflows(c));
  for (const s of states) seen.add(s.workflow);
  const workflows = o.workflow ? [o.workflow] : dependencyOrder(seen, c.workflows);
  if (o.workflow && !seen.has(o.workflow) && !c.workflows.some((w) => w.name === o.workflow)) {
    throw new UserError(
      `unknown workflow '${o.workflow}' in campaign '${c.name}' (known: ${[...seen].sort().join(', ') || 'none'})`,
    );
  }
  const byRun = new Map<number, StatusRow>();
  const row = (run: number): StatusRow => {
    let r = byRun.get(run);
    if (!r) {
      const info = registered.get(run);
      r = {
        run,
        fill: info?.fill ?? 0,
        era: info?.era ?? '',
        rtypes: info?.rtypes ?? [],
        status: Object.fromEntries(workflows.map((w) => [w, null])),
      };
      byRun.set(run, r);
    }
    return r;
  };
  for (const info of registered.values()) row(info.run);
  for (const s of states) row(s.run).status[s.workflow] = s.status;
  let rows = [...byRun.values()].sort((a, b) => a.run - b.run);
  if (sel.era !== undefined) {
    const era = sel.era;
    rows = rows.filter((r) => r.era === era);
    if (rows.length === 0) await checkEra(ctx, era, registered.values());
  }
  const totals: StatusResult['totals'] = {};
  for (const w of workflows) totals[w] = emptyDisplayCounts();
  for (const r of rows) {
    for (const w of workflows) {
      const s = r.status[w];
      const t = totals[w];
      if (s && t) t[s]++;
    }
  }
  const loop = loopOf(c, totals, loops);
  return {
    campaign: c.name,
    workflows,
    rows,
    totals,
    stale: markStale(c, current.states, rows, workflows),
    malformed: current.malformed.length,
    ...(loop ? { loop } : {}),
  };
}

/** Marks the rows' stale pairs and counts them per workflow (from the state read, no other query). */
function markStale(
  c: Campaign,
  states: ReadonlyMap<string, RunState>,
  rows: StatusRow[],
  workflows: readonly string[],
): Record<string, number> {
  const stale = staleResults(c, states, new Set(workflows));
  const counts: Record<string, number> = Object.fromEntries(workflows.map((w) => [w, 0]));
  if (stale.size === 0) return counts;
  for (const r of rows) {
    const ws = workflows.filter((w) => r.status[w] === 'done' && stale.has(stateKey(r.run, w)));
    if (ws.length === 0) continue;
    r.stale = ws;
    for (const w of ws) counts[w] = (counts[w] ?? 0) + 1;
  }
  return counts;
}

/**
 * The selected part of a campaign's current state (read whole through the snapshot, whose cost does not grow
 * with the history, then narrowed here).
 */
function selectState(
  st: { states: ReadonlyMap<string, RunState>; registered: ReadonlyMap<number, RegisteredRun> },
  blocked: Blocked,
  runs: readonly number[] | undefined,
  range: { min: number; max: number } | undefined,
  workflow: string | undefined,
): { states: PairStatus[]; registered: Map<number, RegisteredRun> } {
  const only = runs ? new Set(runs) : undefined;
  const keep = (run: number): boolean =>
    (!only || only.has(run)) && (!range || (run >= range.min && run <= range.max));
  const states: PairStatus[] = [];
  const add = (w: string, run: number, status: RunStatus): void => {
    if (keep(run) && (workflow === undefined || w === workflow))
      states.push({ workflow: w, run, status: displayStatus(blocked, stateKey(run, w), status) });
  };
  forEachStatus(st.states, add);
  const registered = new Map<number, RegisteredRun>();
  for (const [run, r] of st.registered) if (keep(run)) registered.set(run, r);
  return { states, registered };
}

/** Like Promise.all, but on failure throws the error of the first failed promise in argument order. */
async function allInOrder<T extends readonly unknown[]>(
  ps: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(ps);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** An era no registered run has and the run source does not know is a typo: say which eras exist. */
async function checkEra(ctx: Ctx, era: string, registered: Iterable<{ era: string }>): Promise<void> {
  const source = ctx.source();
  const known = new Set(await source.eras());
  if (known.has(era)) return;
  for (const r of registered) if (r.era) known.add(r.era);
  throw new UserError(
    `unknown era '${era}' (not in the run source ${source.describe} nor in the campaign); known eras: ${[...known].sort().join(', ') || 'none'}`,
  );
}
