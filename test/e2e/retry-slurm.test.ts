/**
 * The retry policy on a real private Slurm (scripts/slurm.sh; root only): a job past its --time ends TIMEOUT
 * (failure class timeout) and its retry with doubled time ends done. Slurm keeps time limits in whole minutes
 * and checks them about every 30 s, so this test takes 1–2 minutes: it runs alone in its file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlurm } from '../helpers/batch.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { loopEnv, ok, untilSettled, writeCampaign, type LoopEnv } from '../helpers/loop.js';

interface JobJson {
  attempt: number;
  status: string;
  failureClass?: string;
  walltimeMin?: number;
  reason: string;
  nativeId: string;
}

const RUN = 397001;
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('retry with more time, on a real Slurm', () => {
  const db = freshDb('retry_slurm');
  let e: LoopEnv;
  let stop: (() => void) | undefined;

  afterAll(() => stop?.(), 60_000);

  beforeAll(async () => {
    e = loopEnv(db.db, [makeRun(RUN)]);
    const s = startSlurm();
    stop = s.stop;
    e.env.SLURM_CONF = s.conf;
    const file = writeCampaign(e, {
      campaign: 'rts',
      rtypes: { all: { filter: { global: true }, workflows: ['wall'] } },
      workflows: {
        wall: {
          backend: 'slurm',
          // sleeps past its limit only when given the first attempt's minute
          command: 'test "$RUNCTRL_WALLTIME_MIN" != 1 || sleep 300',
          resources: { walltime_min: 1 },
          max_retries: 1,
          retry: { on: ['timeout'], walltime_factor: 2, max_walltime_min: 10 },
        },
      },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'rts', '--range', `${RUN},${RUN}`]);
  }, 120_000);

  it('TIMEOUT, then done with --time doubled', { timeout: 300_000 }, async () => {
    const s = await untilSettled(e, 'rts', { maxPasses: 120, pauseMs: 2000 });
    expect(s.totals.wall).toMatchObject({ done: 1, failed: 0 });
    const jobs = JSON.parse((await ok(e, ['jobs', '--campaign', 'rts', '--json'])).stdout) as JobJson[];
    const a1 = jobs.find((j) => j.attempt === 1);
    const a2 = jobs.find((j) => j.attempt === 2);
    expect(a1).toMatchObject({ status: 'failed', failureClass: 'timeout', walltimeMin: 1 });
    expect(a1?.reason).toMatch(/TIMEOUT/);
    expect(a2).toMatchObject({ status: 'done', walltimeMin: 2 });
    expect(jobs).toHaveLength(2);
  });
});
