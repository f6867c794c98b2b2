import { loadCampaign } from './campaigns.js';
import { planInject, type InjectMode } from '../domain/inject-plan.js';
import { minMax } from '../domain/selectors.js';
import type { RunStatus } from '../domain/status.js';
import { runInfoPoint, runStatePoint } from '../store/schema.js';
import type { PointSpec } from '../store/lineproto.js';
import type { Ctx, Progress } from './context.js';
import { resolveRuns, type RunSelector } from './runs.js';

export interface InjectOptions {
  campaign: string;
  selector: RunSelector;
  mode: InjectMode;
  dryRun?: boolean;
  onProgress?: Progress;
}

export interface InjectResult {
  campaign: string;
  dryRun: boolean;
  mode: InjectMode;
  runs: number;
  registered: number;
  /** Status points written (or that would be), by workflow and status. */
  set: Record<string, Partial<Record<RunStatus, number>>>;
  changes: number;
  kept: Record<string, number>;
  unmatched: number[];
  points: number;
}

export async function inject(ctx: Ctx, o: InjectOptions): Promise<InjectResult> {
  const c = await loadCampaign(ctx, o.campaign);
  const runs = await resolveRuns(ctx, o.selector);
  const nums = runs.map((r) => r.run);
  const range = minMax(nums) ?? { min: 0, max: 0 };
  const [current, registered] = await Promise.all([
    ctx.store.runStates(c.name, { range }),
    ctx.store.registeredRuns(c.name, { range }),
  ]);
  const plan = planInject(c, runs, current, registered, o.mode);
  const total = plan.register.length + plan.changes.length;
  // points are made batch by batch while writing: 10⁵ runs × 8 workflows never sit in memory as points
  function* points(): Generator<PointSpec> {
    for (const r of plan.register) yield runInfoPoint(c.name, r.info, r.rtypes);
    for (const s of plan.changes) yield runStatePoint(c.name, s);
  }
  const set: InjectResult['set'] = {};
  for (const ch of plan.changes) {
    const w = (set[ch.workflow] ??= {});
    w[ch.status] = (w[ch.status] ?? 0) + 1;
  }
  if (!o.dryRun && total > 0) {
    await ctx.store.writeStream(points(), total, o.onProgress);
  }
  return {
    campaign: c.name,
    dryRun: o.dryRun ?? false,
    mode: o.mode,
    runs: runs.length,
    registered: plan.register.length,
    set,
    changes: plan.changes.length,
    kept: plan.kept,
    unmatched: plan.unmatched,
    points: total,
  };
}
