/**
 * Step 1 of a pass (prompt mode): runs newer than the last registered one (or than --start-run on a fresh
 * database), never past the block's end, registered in every active campaign; a run still being taken is
 * registered once it has ended.
 */
import { activityOf, type Campaign } from '../domain/campaign.js';
import { planInject } from '../domain/inject-plan.js';
import type { RunInfo } from '../domain/run.js';
import { UserError } from '../errors.js';
import { runInfoPoint, runStatePoint } from '../store/schema.js';
import { fault } from './fault.js';
import type { PassContext } from './pass.js';

async function freshRuns(x: PassContext): Promise<RunInfo[]> {
  const prompt = x.o.prompt;
  if (!prompt || !x.deps.source) return [];
  const last = await x.deps.store.lastRegisteredRun();
  if (last === undefined && prompt.startRun === undefined && prompt.block === undefined) {
    throw new UserError(
      'prompt mode on a database without runs: say where to start with --start-run RUN or --block START,END',
    );
  }
  const floor = Math.max(last ?? prompt.startRun ?? 0, (prompt.block?.min ?? 0) - 1);
  const ceiling = prompt.block?.max ?? Number.MAX_SAFE_INTEGER;
  if (floor >= ceiling) return [];
  const source = x.deps.source();
  const fetched = prompt.block
    ? await source.fetch({ range: { min: floor + 1, max: ceiling } })
    : await source.fetch({ after: floor });
  return fetched.filter((r) => r.run > floor && r.run <= ceiling && r.endTime !== null);
}

export async function senseRuns(x: PassContext, campaigns: Campaign[]): Promise<void> {
  const fresh = await freshRuns(x);
  x.report.sensed = fresh.length;
  fault('after-sense');
  if (fresh.length === 0) return;
  const range = { min: fresh[0]?.run ?? 0, max: fresh[fresh.length - 1]?.run ?? 0 };
  for (const c of campaigns.filter((k) => activityOf(k) === 'active')) {
    const [cur, reg] = await Promise.all([
      x.deps.store.runStates(c.name, { range }),
      x.deps.store.registeredRuns(c.name, { range }),
    ]);
    const plan = planInject(c, fresh, cur, reg, 'missing');
    await x.write([
      ...plan.register.map((r) => runInfoPoint(c.name, r.info, r.rtypes)),
      ...plan.changes.map((s) => runStatePoint(c.name, s)),
    ]);
    x.deps.log?.(
      `sensed ${fresh.length} run(s); campaign ${c.name}: ${plan.register.length} registered, ${plan.changes.length} new pair(s)`,
    );
  }
}
