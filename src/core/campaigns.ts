import { activeWorkflows, activityOf, editList, type Activity, type Campaign } from '../domain/campaign.js';
import { DEFAULT_FILTER, describeFilter } from '../domain/filter.js';
import { checkName } from '../domain/names.js';
import { emptyCounts, type RunStatus } from '../domain/status.js';
import { UserError } from '../errors.js';
import type { MalformedPoint } from '../store/malformed.js';
import { campaignPoint, rtypePoint } from '../store/schema.js';
import { campaignHealth, type CampaignHealth } from '../domain/loop-health.js';
import type { Ctx } from './context.js';
import { readLoopHealth, workOf } from './loops.js';

/** Loads one campaign after checking its name (a name outside the character set is a user error, not "unknown"). */
export async function loadCampaign(ctx: Ctx, name: string): Promise<Campaign> {
  checkName('campaign', name);
  return ctx.store.campaign(name);
}

export interface CreateOptions {
  campaign: string;
  description?: string;
  ifNotExists?: boolean;
}

export interface CreateResult {
  campaign: string;
  created: boolean;
  rtypes: string[];
}

/** Creates a campaign with the default run type `all` (global runs only). Creates the database if needed. */
export async function createCampaign(ctx: Ctx, o: CreateOptions): Promise<CreateResult> {
  checkName('campaign', o.campaign);
  await ctx.store.ensureDatabase();
  const existing = await ctx.store.campaigns(o.campaign);
  if (existing.length > 0) {
    if (o.ifNotExists)
      return { campaign: o.campaign, created: false, rtypes: existing[0]?.rtypes.map((t) => t.name) ?? [] };
    throw new UserError(
      `campaign '${o.campaign}' already exists in database '${ctx.store.db}': choose another name, or add --if-not-exists`,
    );
  }
  await ctx.store.write([
    rtypePoint(o.campaign, 'all', DEFAULT_FILTER, [], []),
    campaignPoint(o.campaign, o.description ?? '', Date.now()),
  ]);
  return { campaign: o.campaign, created: true, rtypes: ['all'] };
}

export interface CampaignSummary {
  campaign: string;
  description: string;
  activity: Activity;
  /** Priority of the campaign's units (higher first; a workflow may have its own). */
  priority: number;
  rtypes: { name: string; filter: string; workflows: string[]; suspended: string[] }[];
  workflows: string[];
  runs: number;
  counts: Record<RunStatus, number>;
  /** Malformed points skipped in the campaign's current state (docs/malformed-points.md). */
  malformed: number;
  /** Which loop holds it, its last pass, stale or not (README/docs: loops and fail-over). */
  loop?: CampaignHealth;
}

export function summarize(
  c: Campaign,
  counts: Record<RunStatus, number>,
  runs: number,
  malformed = 0,
): CampaignSummary {
  return {
    campaign: c.name,
    description: c.description,
    activity: activityOf(c),
    priority: c.priority ?? 0,
    rtypes: c.rtypes.map((t) => ({
      name: t.name,
      filter: describeFilter(t.filter),
      workflows: t.workflows,
      suspended: t.suspended,
    })),
    workflows: activeWorkflows(c),
    runs,
    counts,
    malformed,
  };
}

/** Campaigns with activity, workflows and run × workflow counts per status. */
export async function listCampaigns(ctx: Ctx): Promise<CampaignSummary[]> {
  const definitions: MalformedPoint[] = [];
  const campaigns = await ctx.store.campaigns(undefined, definitions);
  // every campaign through its snapshot, all at once: the cost follows the current state, not the history
  const [counts, loops] = await Promise.all([
    Promise.all(campaigns.map((c) => ctx.store.statusCounts(c.name))),
    readLoopHealth(ctx.store),
  ]);
  const works = campaigns.map((c, i) => workOf(c, counts[i]?.counts ?? emptyCounts()));
  const health = campaignHealth(works, loops.heartbeats, loops.claims, loops.now);
  return campaigns.map((c, i) => {
    const n = counts[i] ?? { counts: emptyCounts(), runs: 0, malformed: [] };
    const bad = n.malformed.length + definitions.filter((p) => p.tags.campaign === c.name).length;
    const h = health.get(c.name);
    return { ...summarize(c, n.counts, n.runs, bad), ...(h ? { loop: h } : {}) };
  });
}

export interface ActivationResult {
  campaign: string;
  changed: boolean;
  activity: Activity;
  rtypes: { name: string; workflows: string[]; suspended: string[] }[];
}

/**
 * Removes every active workflow from every run type in one write. The set aside (`suspended`) becomes
 * exactly the set that was active, so `reactivate` restores that set and nothing else. A campaign with no
 * active workflow is left alone.
 */
export async function deactivate(ctx: Ctx, o: { campaign: string }): Promise<ActivationResult> {
  const c = await loadCampaign(ctx, o.campaign);
  const active = activityOf(c) === 'active';
  const next = active
    ? c.rtypes.map((t) => ({ ...t, suspended: [...t.workflows], workflows: [] }))
    : c.rtypes;
  const changed = next.filter((t, i) => {
    const before = c.rtypes[i];
    return (
      before !== undefined && (before.workflows.length > 0 || before.suspended.join() !== t.suspended.join())
    );
  });
  if (changed.length > 0) {
    await ctx.store.write(changed.map((t) => rtypePoint(c.name, t.name, t.filter, t.workflows, t.suspended)));
  }
  return {
    campaign: c.name,
    changed: changed.length > 0,
    activity: activityOf({ ...c, rtypes: next }),
    rtypes: next.map((t) => ({ name: t.name, workflows: t.workflows, suspended: t.suspended })),
  };
}

/** Restores exactly the workflows `deactivate` set aside (keeping any added since). */
export async function reactivate(ctx: Ctx, o: { campaign: string }): Promise<ActivationResult> {
  const c = await loadCampaign(ctx, o.campaign);
  const changed = c.rtypes.filter((t) => t.suspended.length > 0);
  if (changed.length === 0 && activityOf(c) !== 'active') {
    throw new UserError(
      `campaign '${c.name}' has no deactivated workflows to restore: add workflows with 'runctrl --db ${ctx.store.db} rtype-update --campaign ${c.name} --type all --add WORKFLOW'`,
    );
  }
  const next = c.rtypes.map((t) => ({
    ...t,
    workflows: editList(t.workflows, t.suspended, []),
    suspended: [],
  }));
  if (changed.length > 0) {
    await ctx.store.write(
      next
        .filter((t) => changed.some((x) => x.name === t.name))
        .map((t) => rtypePoint(c.name, t.name, t.filter, t.workflows, t.suspended)),
    );
  }
  return {
    campaign: c.name,
    changed: changed.length > 0,
    activity: activityOf({ ...c, rtypes: next }),
    rtypes: next.map((t) => ({ name: t.name, workflows: t.workflows, suspended: t.suspended })),
  };
}
