/** `runctrl why`: why each workflow of a run is not done, from the campaign's state (constant queries). */
import { explainRun, type WhyResult } from '../domain/why.js';
import { UserError } from '../errors.js';
import { loadCampaign } from './campaigns.js';
import type { Ctx } from './context.js';

export interface WhyOptions {
  campaign: string;
  run: number;
  workflow?: string;
  /** The loop's --max-in-flight, if the operator wants the limit checked. */
  maxInFlight?: number;
}

export async function why(ctx: Ctx, o: WhyOptions): Promise<WhyResult> {
  const c = await loadCampaign(ctx, o.campaign);
  const [states, registered, jobs, locks] = await Promise.all([
    ctx.store.runStates(c.name),
    ctx.store.registeredRuns(c.name),
    ctx.store.jobs(c.name),
    ctx.store.locks(c.name),
  ]);
  return explainFor({ campaign: c, states, registered, jobs, locks, maxInFlight: o.maxInFlight }, o);
}

/** Checks the workflow name against the campaign, then explains. */
export function explainFor(input: Parameters<typeof explainRun>[0], o: WhyOptions): WhyResult {
  const c = input.campaign;
  if (o.workflow !== undefined) {
    const known = new Set([...c.workflows.map((w) => w.name), ...c.rtypes.flatMap((t) => t.workflows)]);
    for (const s of input.states.values()) known.add(s.workflow);
    if (!known.has(o.workflow))
      throw new UserError(
        `unknown workflow '${o.workflow}' in campaign '${c.name}' (known: ${[...known].sort().join(', ') || 'none'})`,
      );
  }
  return explainRun(input, o.run, o.workflow);
}
