/** `runctrl why`: why each workflow of a run is not done, from the campaign's state (constant queries). */
import { forEachStatus } from '../domain/state-table.js';
import { againIfCorrupt } from '../store/snapshot.js';
import { explainRun, type WhyResult } from '../domain/why.js';
import { UserError } from '../errors.js';
import { loadCampaign } from './campaigns.js';
import type { Ctx } from './context.js';
import { lastPrune } from '../store/retention.js';

export interface WhyOptions {
  campaign: string;
  run: number;
  workflow?: string;
  /** The loop's --max-in-flight, if the operator wants the limit checked. */
  maxInFlight?: number;
}

/** A forged snapshot found undecodable midway is refused and the state read again (docs/malformed-points.md). */
export async function why(ctx: Ctx, o: WhyOptions): Promise<WhyAnswer> {
  return againIfCorrupt(() => whyOnce(ctx, o));
}

type WhyAnswer = WhyResult & { pruned?: { before: number; keep: number } };

async function whyOnce(ctx: Ctx, o: WhyOptions): Promise<WhyAnswer> {
  const c = await loadCampaign(ctx, o.campaign);
  // the current state without the history (the snapshot and what changed since)
  const [{ states, registered, jobs }, locks, pruned] = await Promise.all([
    ctx.store.campaignState(c.name),
    ctx.store.locks(c.name),
    lastPrune(ctx.store, c.name),
  ]);
  const r = explainFor({ campaign: c, states, registered, jobs, locks, maxInFlight: o.maxInFlight }, o);
  return pruned ? { ...r, pruned: { before: pruned.cutoff, keep: pruned.keep } } : r;
}

/** Checks the workflow name against the campaign, then explains. */
export function explainFor(input: Parameters<typeof explainRun>[0], o: WhyOptions): WhyResult {
  const c = input.campaign;
  if (o.workflow !== undefined) {
    const known = new Set([...c.workflows.map((w) => w.name), ...c.rtypes.flatMap((t) => t.workflows)]);
    forEachStatus(input.states, (w) => known.add(w));
    if (!known.has(o.workflow))
      throw new UserError(
        `unknown workflow '${o.workflow}' in campaign '${c.name}' (known: ${[...known].sort().join(', ') || 'none'})`,
      );
  }
  return explainRun(input, o.run, o.workflow);
}
