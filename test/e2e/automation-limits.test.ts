/** Loop options an operator relies on: the in-flight limit, --ignore-locks, and cancelling jobs by hand. */
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, procStat } from '../../src/backends/local.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';

interface PassJson {
  campaigns: { campaign: string; submitted: number; deferred: number; waiting: Record<string, number> }[];
}
interface JobJson {
  name: string;
  status: string;
  nativeId: string;
  reason: string;
}

describe('automation limits and manual control', () => {
  const db = freshDb('limits');
  let e: LoopEnv;

  beforeAll(async () => {
    e = loopEnv(
      db.db,
      [395001, 395002, 395003].map((r) => makeRun(r)),
    );
    const file = writeCampaign(e, {
      campaign: 'lim',
      rtypes: { all: { filter: { global: true }, workflows: ['slow'] } },
      workflows: { slow: { command: 'sleep 30' } },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'lim', '--range', '395001,395003']);
  });

  it('a lock holds the workflow; --ignore-locks dispatches it anyway; --max-in-flight caps the jobs in the system', async () => {
    await ok(e, [
      'lock',
      '--campaign',
      'lim',
      '--workflow',
      'slow',
      '--from-run',
      '395001',
      '--reason',
      'test',
    ]);
    const held = await cli(e, ['automation', '--once', '--json']);
    expect(held.code, held.stderr).toBe(0);
    const h = JSON.parse(held.stdout) as PassJson;
    expect(h.campaigns[0]?.submitted).toBe(0);
    expect(h.campaigns[0]?.waiting).toEqual({ 'slow: held by lock from run 395001': 3 });

    const r = await cli(e, ['automation', '--once', '--ignore-locks', '--max-in-flight', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PassJson;
    expect(p.campaigns[0]).toMatchObject({ submitted: 1, deferred: 2 });
    // the lock is still in force: the two not dispatched are blocked by it
    expect((await statusOf(e, 'lim')).totals.slow).toMatchObject({ processing: 1, new: 0, blocked: 2 });
  });

  it('jobs cancel stops the jobs in flight and records them failed', async () => {
    const before = JSON.parse(
      (await ok(e, ['jobs', '--campaign', 'lim', '--status', 'idle', 'running', '--json'])).stdout,
    ) as JobJson[];
    expect(before).toHaveLength(1);
    const local = new LocalBackend({ stateDir: e.env.RUNCTRL_STATE_DIR as string });
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      pid = (await local.pidOf(before[0]?.nativeId ?? '')) ?? 0;
      if (!pid) await new Promise((res) => setTimeout(res, 50));
    }
    expect(procStat(pid)).toBeDefined();
    const r = JSON.parse(
      (await ok(e, ['jobs', 'cancel', '--campaign', 'lim', '--workflow', 'slow', '--json'])).stdout,
    ) as {
      cancelled: string[];
    };
    expect(r.cancelled).toEqual([before[0]?.name]);
    const after = JSON.parse((await ok(e, ['jobs', '--campaign', 'lim', '--json'])).stdout) as JobJson[];
    expect(after.map((j) => [j.status, j.reason])).toEqual([['failed', 'cancelled by operator']]);
    for (let i = 0; i < 50 && procStat(pid); i++) await new Promise((res) => setTimeout(res, 100));
    expect(procStat(pid)).toBeUndefined();
    // nothing left to cancel is not an error
    const again = await ok(e, ['jobs', 'cancel', '--campaign', 'lim']);
    expect(again.stdout).toMatch(/no job in flight matches/);
  });
});
