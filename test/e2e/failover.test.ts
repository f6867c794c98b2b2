/**
 * Loop health and fail-over without a batch system: a campaign held by a loop elsewhere is skipped by
 * `--once` over all campaigns and refused for `--once -c` it; `loops`, `list` and `status` show who holds
 * what and mark stale campaigns; two daemons (two host identities) split the campaigns, and SIGTERM hands
 * one's campaigns to the other. (Kill -9 on the real Slurm: failover-slurm.test.ts.)
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { BIN, expectCleanError } from '../helpers/cli.js';
import { makeRun } from '../helpers/fixtures.js';
import { foreignLoop, until } from '../helpers/failover.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loggingCommand, loopEnv, ok, writeCampaign, type LoopEnv } from '../helpers/loop.js';

const FOREIGN = 'otherhost:4242:zz0001';

interface LoopJson {
  loop: string;
  host: string;
  status: string;
  holds: string[];
}

async function loops(e: LoopEnv): Promise<LoopJson[]> {
  return (JSON.parse((await ok(e, ['loops', '--json'])).stdout) as { loops: LoopJson[] }).loops;
}

function campaign(e: LoopEnv, name: string): string {
  return writeCampaign(
    e,
    {
      campaign: name,
      rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
      workflows: { A: { command: loggingCommand('a') } },
    },
    `${name}.json`,
  );
}

describe('loop health and fail-over', () => {
  const db = freshDb('failover');
  const store = new Store(db);

  it('--once skips a campaign held elsewhere, refuses it by name; loops, list and status show the holders', async () => {
    const e = loopEnv(
      db.db,
      [393001, 393002].map((r) => makeRun(r)),
    );
    for (const c of ['fa', 'fb']) {
      await ok(e, ['apply', campaign(e, c)]);
      await ok(e, ['inject', '--campaign', c, '--range', '393001,393002']);
    }
    // a loop on another host holds fb, and has not passed for a minute at a 2 s interval
    await foreignLoop(store, {
      loop: FOREIGN,
      campaign: 'fb',
      agoMs: 60_000,
      intervalMs: 2_000,
      oldestAgoMs: 600_000,
      leaseMs: 120_000,
    });
    const once = await cli(e, ['automation', '--once']);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(
      /skipped campaign fb: held by another loop \(otherhost:4242:zz0001, lease until /,
    );
    expect(once.stdout).toMatch(/│ fa\s+│ active\s+│ 2 /);

    const named = await cli(e, ['automation', '--once', '--campaign', 'fb']);
    expectCleanError(named, 1, /campaign 'fb' is being processed by another loop \(otherhost:4242:zz0001/);

    const ls = await loops(e);
    expect(ls.find((l) => l.loop === FOREIGN)).toMatchObject({ status: 'stale', holds: ['fb'] });
    expect(ls.filter((l) => l.loop !== FOREIGN).every((l) => l.status === 'stopped')).toBe(true);
    expect((await ok(e, ['loops'])).stdout).toMatch(/otherhost:4242 .*STALE \(\d+s since its last pass\)/);

    const list = JSON.parse((await ok(e, ['list', '--json'])).stdout) as {
      campaign: string;
      loop: { holder: string; stale: boolean; reason: string; oldestInFlightAt: number; lastPassEnd: number };
    }[];
    const fb = list.find((c) => c.campaign === 'fb')?.loop;
    expect(fb).toMatchObject({ holder: FOREIGN, stale: true });
    expect(Date.now() - (fb?.oldestInFlightAt ?? 0)).toBeGreaterThanOrEqual(600_000);
    expect(fb?.reason).toMatch(/^no pass for \d+s/);
    // fa: no loop holds it, but a --once run (cron) passed over it less than 3 intervals ago: not stale
    const fa = list.find((c) => c.campaign === 'fa')?.loop;
    expect(fa).toMatchObject({ holder: '', stale: false });
    expect(fa?.lastPassEnd).toBeGreaterThan(0);
    const text = (await ok(e, ['list'])).stdout;
    expect(text).toMatch(/STALE campaign fb: no pass for/);
    expect(text).not.toMatch(/STALE campaign fa/);

    const st = await ok(e, ['status', '--campaign', 'fb']);
    expect(st.stdout).toMatch(
      /STALE loop: held by loop otherhost:4242, last pass \d+s ago, oldest job in flight 10m \(no pass for/,
    );
  }, 60_000);

  it('two daemons split the campaigns; SIGTERM hands one’s campaigns to the other', async () => {
    const e = loopEnv(
      db.db,
      [393101].map((r) => makeRun(r)),
    );
    const names = ['s1', 's2', 's3', 's4'];
    for (const c of names) await ok(e, ['apply', campaign(e, c)]);
    const start = (host: string): ChildProcess => {
      const p = spawn(
        process.execPath,
        [
          BIN,
          'automation',
          '--daemon',
          '--interval',
          '1s',
          '--lease-ttl',
          '3s',
          ...names.flatMap((c) => ['-c', c]),
        ],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: process.env.HOME ?? '/tmp',
            ...e.env,
            RUNCTRL_HOST: host,
            RUNCTRL_STATE_DIR: path.join(e.dir, `state-${host}`),
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      p.stderr?.resume();
      return p;
    };
    const a = start('host-a');
    const b = start('host-b');
    try {
      const split = await until('the daemons to split the campaigns', async () => {
        const live = (await loops(e)).filter((l) => l.status === 'live' && l.holds.length > 0);
        const held = live.flatMap((l) => l.holds).sort();
        return live.length === 2 && live.every((l) => l.holds.length === 2) && held.join() === names.join()
          ? live
          : undefined;
      });
      expect(split.map((l) => l.host).sort()).toEqual(['host-a', 'host-b']);

      a.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => a.on('exit', (c) => r(c)));
      expect(code).toBe(0);
      await until('host-b to hold every campaign', async () => {
        const ls = await loops(e);
        const bLive = ls.find((l) => l.host === 'host-b' && l.status === 'live');
        const aStopped = ls.some((l) => l.host === 'host-a' && l.status === 'stopped');
        return aStopped && bLive?.holds.join() === names.join() ? true : undefined;
      });
    } finally {
      a.kill('SIGKILL');
      b.kill('SIGTERM');
      await new Promise((r) => (b.exitCode !== null ? r(undefined) : b.on('exit', r)));
    }
  }, 90_000);
});
