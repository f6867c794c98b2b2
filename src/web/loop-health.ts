/** The loop health the dashboard shows on its overview and campaign page (read through the source, 2 queries). */
import { healthOfCounts } from '../core/loops.js';
import type { Campaign } from '../domain/campaign.js';
import type { CampaignHealth } from '../domain/loop-health.js';
import type { RunStatus } from '../domain/status.js';
import type { DashboardSource } from './source.js';

/** Each campaign's loop health (none when the source cannot read heartbeats). */
export async function loopHealthOf(
  src: DashboardSource,
  items: readonly { campaign: Campaign; counts: Readonly<Record<RunStatus, number>> }[],
): Promise<Map<string, CampaignHealth>> {
  if (!src.loopHealth || items.length === 0) return new Map();
  return healthOfCounts(items, await src.loopHealth());
}
