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
import type { RunStatus } from '../domain/status.js';
import type { Ctx } from './context.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { readRunList, selectorKind, type RunSelector } from './runs.js';
import { UserError } from '../errors.js';
import { checkName } from '../domain/names.js';
import { forEachStatus } from '../domain/state-table.js';

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
}

export interface StatusResult {
  campaign: string;
  workflows: string[];
  rows: StatusRow[];
  /** Per workflow, pairs per display status (a blocked pair counts under blocked only). */
  totals: Record<string, Record<DisplayStatus, number>>;
  /** Malformed points skipped in the campaign's state (docs/malformed-points.md). */
  malformed: number;
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
  const [c, runs, current, locks] = await allInOrder([
    loadCampaign(ctx, o.campaign),
    kind === 'runlist' ? readRunList(sel.runlist ?? '') : sel.runs,
    ctx.store.campaignState(o.campaign, undefined, { statusesOnly: true }),
    ctx.store.locks(o.campaign),
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
  return { campaign: c.name, workflows, rows, totals, malformed: current.malformed.length };
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
