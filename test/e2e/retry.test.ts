/**
 * The retry policy end to end on the local backend (docs/retry-policy.md): a job that allocates beyond its
 * memory_mb and one that sleeps beyond its walltime_min (0.05 min = 3 s) fail as `oom` and `timeout`, are
 * retried with doubled resources and end done; `jobs` and `why` show the classes and the resources asked.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loopEnv, ok, untilSettled, writeCampaign, type LoopEnv } from '../helpers/loop.js';

interface JobJson {
  workflow: string;
  attempt: number;
  status: string;
  failureClass?: string;
  memoryMb?: number;
  walltimeMin?: number;
  reason: string;
}

const RUN = 396001;

describe('retry with more memory or time, on the local backend', () => {
  const db = freshDb('retry_local');
  let e: LoopEnv;
  const jobsOf = async (): Promise<JobJson[]> =>
    JSON.parse((await ok(e, ['jobs', '--campaign', 'rt', '--json'])).stdout) as JobJson[];

  beforeAll(async () => {
    e = loopEnv(db.db, [makeRun(RUN)]);
    const retry = {
      on: ['oom', 'timeout'],
      memory_factor: 2,
      walltime_factor: 2,
      max_memory_mb: 1000,
      max_walltime_min: 1,
    };
    const file = writeCampaign(e, {
      campaign: 'rt',
      rtypes: { all: { filter: { global: true }, workflows: ['mem', 'wall'] } },
      workflows: {
        // 300 MB: beyond the first attempt's 200 MB, within the second's 400 MB
        mem: {
          command: `python3 -c 'b = bytearray(300 * 1024 * 1024); print(len(b))'`,
          resources: { memory_mb: 200 },
          max_retries: 1,
          retry,
        },
        // sleeps past its limit only when given the first attempt's 3 s
        wall: {
          command: 'test "$RUNCTRL_WALLTIME_MIN" != 0.05 || sleep 30',
          resources: { walltime_min: 0.05 },
          max_retries: 1,
          retry,
        },
      },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'rt', '--range', `${RUN},${RUN}`]);
  }, 60_000);

  it(
    'records oom and timeout, says what the retries ask, then ends done with doubled resources',
    { timeout: 120_000 },
    async () => {
      // a lock keeps the retries back (it holds retries too), so that the failed attempts can be looked at
      const first = await cli(e, ['automation', '--once']);
      expect(first.code, first.stderr).toBe(0);
      await ok(e, [
        'lock',
        '--campaign',
        'rt',
        '--workflow',
        'mem',
        '--from-run',
        String(RUN),
        '--reason',
        'look',
      ]);
      await ok(e, [
        'lock',
        '--campaign',
        'rt',
        '--workflow',
        'wall',
        '--from-run',
        String(RUN),
        '--reason',
        'look',
      ]);
      let failed: JobJson[] = [];
      for (let i = 0; i < 60 && failed.length < 2; i++) {
        const r = await cli(e, ['automation', '--once']);
        expect(r.code, r.stderr).toBe(0);
        failed = (await jobsOf()).filter((j) => j.status === 'failed');
        if (failed.length < 2) await new Promise((res) => setTimeout(res, 300));
      }
      expect(failed.map((j) => [j.workflow, j.attempt, j.failureClass]).sort()).toEqual([
        ['mem', 1, 'oom'],
        ['wall', 1, 'timeout'],
      ]);
      const why = async (w: string): Promise<string> =>
        (await ok(e, ['why', '--campaign', 'rt', '--run', String(RUN), '--workflow', w])).stdout;
      expect(await why('mem')).toMatch(/attempt 1 ran out of memory at 200 MB: attempt 2 asks 400 MB/);
      expect(await why('wall')).toMatch(/attempt 1 ran out of time at 3 s: attempt 2 asks 6 s/);
      const table = (await ok(e, ['jobs', '--campaign', 'rt'])).stdout;
      expect(table).toMatch(/oom/);
      expect(table).toMatch(/200 MB/);

      await ok(e, ['unlock', '--campaign', 'rt', '--workflow', 'mem']);
      await ok(e, ['unlock', '--campaign', 'rt', '--workflow', 'wall']);
      const s = await untilSettled(e, 'rt', { maxPasses: 60, pauseMs: 300 });
      expect(s.totals.mem).toMatchObject({ done: 1, failed: 0 });
      expect(s.totals.wall).toMatchObject({ done: 1, failed: 0 });
      const all = await jobsOf();
      const of = (w: string, a: number): JobJson | undefined =>
        all.find((j) => j.workflow === w && j.attempt === a);
      expect(of('mem', 1)).toMatchObject({ status: 'failed', failureClass: 'oom', memoryMb: 200 });
      expect(of('mem', 2)).toMatchObject({ status: 'done', memoryMb: 400 });
      expect(of('wall', 1)).toMatchObject({ status: 'failed', failureClass: 'timeout', walltimeMin: 0.05 });
      expect(of('wall', 2)).toMatchObject({ status: 'done', walltimeMin: 0.1 });
      expect(of('mem', 2)?.failureClass).toBeUndefined();
    },
  );
});

describe('a retry killed right after its intent (RUNCTRL_FAULT=after-intent)', () => {
  const db = freshDb('retry_crash');
  let e: LoopEnv;

  beforeAll(async () => {
    e = loopEnv(db.db, [makeRun(RUN)]);
    const file = writeCampaign(e, {
      campaign: 'rtc',
      rtypes: { all: { filter: { global: true }, workflows: ['mem'] } },
      workflows: {
        mem: {
          command: `echo "{attempt} $RUNCTRL_MEMORY_MB" >> "$RUNCTRL_EXEC_LOG"; python3 -c 'b = bytearray(300 * 1024 * 1024)'`,
          resources: { memory_mb: 200 },
          max_retries: 1,
          retry: { on: ['oom'] },
        },
      },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'rtc', '--range', `${RUN},${RUN}`]);
  }, 60_000);

  it(
    'is submitted once after the restart, with the memory its intent recorded',
    { timeout: 120_000 },
    async () => {
      const first = await cli(e, ['automation', '--once']);
      expect(first.code, first.stderr).toBe(0);
      let killed = false;
      for (let i = 0; i < 60 && !killed; i++) {
        // passes until the one that records the oom writes the retry's intent, and dies there
        killed = (await cli(e, ['automation', '--once'], { RUNCTRL_FAULT: 'after-intent' })).code !== 0;
        if (!killed) await new Promise((res) => setTimeout(res, 300));
      }
      expect(killed).toBe(true);
      const intent = (
        JSON.parse((await ok(e, ['jobs', '--campaign', 'rtc', '--json'])).stdout) as (JobJson & {
          nativeId: string;
        })[]
      ).find((j) => j.attempt === 2);
      expect(intent).toMatchObject({ status: 'idle', nativeId: '', memoryMb: 400 });

      const s = await untilSettled(e, 'rtc', { maxPasses: 60, pauseMs: 300 });
      expect(s.totals.mem).toMatchObject({ done: 1, failed: 0 });
      expect(readFileSync(e.execLog, 'utf8').trim().split('\n')).toEqual(['1 200', '2 400']);
    },
  );
});
