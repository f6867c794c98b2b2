/** `compact`: a fresh snapshot of each campaign's current state (README, "Snapshots"). */
import { loadCampaign } from './campaigns.js';
import { againIfCorrupt } from '../store/snapshot.js';
import type { Ctx } from './context.js';

export interface CompactResult {
  campaign: string;
  /** How the state was read: from the previous snapshot and what changed since, or the whole history. */
  readVia: 'snapshot' | 'full';
  generation: string;
  chunks: number;
  states: number;
  runs: number;
  jobs: number;
}

/** Writes a snapshot of the campaign given, or of every campaign: 5 queries and one write per campaign. */
export async function compact(ctx: Ctx, o: { campaign?: string }): Promise<CompactResult[]> {
  const names =
    o.campaign === undefined
      ? (await ctx.store.campaigns()).map((c) => c.name)
      : [(await loadCampaign(ctx, o.campaign)).name];
  const out: CompactResult[] = [];
  for (const campaign of names) {
    // a snapshot that turns out undecodable while it is re-encoded is refused, and the history read instead
    const { r, h } = await againIfCorrupt(async () => {
      const r = await ctx.store.campaignState(campaign);
      return { r, h: await ctx.store.writeSnapshot(campaign, r, r.readAt) };
    });
    out.push({
      campaign,
      readVia: r.via,
      generation: h.gen,
      chunks: h.chunks,
      states: h.states,
      runs: h.runs,
      jobs: h.jobs,
    });
  }
  return out;
}
