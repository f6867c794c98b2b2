/**
 * Fail-over on the real Slurm (root only): two daemons on two simulated hosts (network namespaces with their
 * own host names, test/helpers/hosts.ts) share only InfluxDB and the batch system. Whichever holds the
 * campaign is killed with SIGKILL ten times at random moments (and started again as the stand-by once the
 * other host took over); every unit must end done, executed exactly once. Then SIGTERM hands the campaign
 * over at once, and `runctrl loops` shows the stopped loop.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseHolder } from '../../src/domain/jobs.js';
import { Store } from '../../src/store/store.js';
import { startSlurm } from '../helpers/batch.js';
import { BIN } from '../helpers/cli.js';
import { startHosts, type SimHost, type SimHosts } from '../helpers/hosts.js';
import { makeRun } from '../helpers/fixtures.js';
import { until } from '../helpers/failover.js';
import { freshDb, influxUrl } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';

const isRoot = process.getuid?.() === 0;
const CAMPAIGN = 'fo';
const RUNS = Array.from({ length: 10 }, (_, i) => 392001 + i);
const WORKFLOWS = ['A', 'B', 'C'];
const KILLS = 10;

interface Daemon {
  host: SimHost;
  proc: ChildProcess;
  log: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('fail-over between two hosts on the real Slurm', () => {
  const db = freshDb('failover');
  const store = new Store(db);
  let e: LoopEnv;
  let slurm: { conf: string; stop: () => void } | undefined;
  let sim: SimHosts | undefined;
  const daemons = new Map<string, Daemon>();

  beforeAll(async () => {
    slurm = startSlurm();
    const ctld = Number(/SlurmctldPort=(\d+)/.exec(readFileSync(slurm.conf, 'utf8'))?.[1]);
    const influxPort = Number(new URL(influxUrl()).port);
    sim = await startHosts(['fo-alpha', 'fo-beta'], [ctld, influxPort]);
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
    e.env.SLURM_CONF = slurm.conf;
    mkdirSync(path.join(e.dir, 'jobs'), { recursive: true });
  }, 120_000);

  afterAll(() => {
    for (const d of daemons.values()) d.proc.kill('SIGKILL');
    sim?.stop();
    slurm?.stop();
  }, 60_000);

  function start(host: SimHost): Daemon {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...e.env,
      // host-local state; job scripts, logs and outputs on the shared file system
      RUNCTRL_STATE_DIR: path.join(e.dir, `state-${host.name}`),
    };
    const argv = [process.execPath, BIN, 'automation', '--daemon', '--interval', '2s', '--lease-ttl', '4s'];
    argv.push('--max-in-flight', '4', '--job-root', path.join(e.dir, 'jobs'));
    argv.push('--output-root', path.join(e.dir, 'outputs'));
    const proc = sim?.spawn(host, argv, env);
    if (!proc) throw new Error('no hosts');
    const d: Daemon = { host, proc, log: [] };
    proc.stderr?.setEncoding('utf8').on('data', (t: string) => d.log.push(t));
    proc.stdout?.resume();
    daemons.set(host.name, d);
    return d;
  }

  /** The host whose loop holds the campaign's lease now, if any. */
  async function holderHost(): Promise<string | undefined> {
    const claims = await store.leasePointsByScope(Date.now() - 3_600_000);
    const h = leaseHolder(claims.get(CAMPAIGN) ?? [], Date.now());
    return h?.owner.split(':')[0];
  }

  /** Waits until a loop of another host than `host` holds the campaign; its host. */
  const holderOtherThan = (host: string, timeoutMs: number): Promise<string> =>
    until(
      `a loop other than ${host}'s to hold the campaign`,
      async () => {
        const h = await holderHost();
        return h && h !== host ? h : undefined;
      },
      timeoutMs,
    );

  const exited = (p: ChildProcess) =>
    new Promise<number | null>((r) => {
      if (p.exitCode !== null || p.signalCode !== null) r(p.exitCode);
      else p.on('exit', (code) => r(code));
    });

  it('kill -9 the holder ten times: every unit done and executed once; SIGTERM hands over at once', async () => {
    const file = writeCampaign(
      e,
      {
        campaign: CAMPAIGN,
        rtypes: { all: { filter: { global: true }, workflows: WORKFLOWS } },
        workflows: {
          A: { command: loggingCommand('a', 'sleep 2; '), backend: 'slurm' },
          B: { command: loggingCommand('b', 'sleep 2; '), backend: 'slurm', depends_on: ['A'] },
          C: { command: loggingCommand('c', 'sleep 1; '), backend: 'slurm', depends_on: ['B'] },
        },
      },
      'fo.json',
    );
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', CAMPAIGN, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
    const hosts = sim?.hosts ?? [];
    for (const h of hosts) start(h);

    const takeovers: string[] = [];
    let killedWithWorkLeft = 0;
    for (let k = 0; k < KILLS; k++) {
      const name = await until('a holder', holderHost, 60_000);
      await sleep(300 + Math.random() * 2_500);
      const victim = await until('a holder', holderHost, 60_000);
      const d = daemons.get(victim);
      if (!d) throw new Error(`no daemon on ${victim}`);
      const before = await statusOf(e, CAMPAIGN);
      if (!WORKFLOWS.every((w) => before.totals[w]?.done === RUNS.length)) killedWithWorkLeft++;
      const t0 = Date.now();
      d.proc.kill('SIGKILL');
      await exited(d.proc);
      // the other host takes over when the lease expires; the killed one comes back as the stand-by
      const next = await holderOtherThan(victim, 60_000);
      takeovers.push(`${name}→${next} ${Date.now() - t0} ms`);
      start(d.host);
    }

    const s = await until(
      'every unit done',
      async () => {
        const st = await statusOf(e, CAMPAIGN);
        return WORKFLOWS.every((w) => st.totals[w]?.done === RUNS.length) ? st : undefined;
      },
      120_000,
    );
    for (const w of WORKFLOWS) expect(s.totals[w]).toMatchObject({ done: RUNS.length, failed: 0 });
    // the kills fell in the middle of the work, not after it
    expect(killedWithWorkLeft, takeovers.join(', ')).toBeGreaterThanOrEqual(KILLS / 2);
    const lines = readFileSync(e.execLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${CAMPAIGN} `));
    // "<campaign> <workflow> <runs> <attempt>": each unit once, at its first attempt
    const units = lines.map((l) => l.split(' ').slice(0, 3).join(' '));
    expect(new Set(units).size, `duplicate executions: ${lines.join(' | ')}`).toBe(units.length);
    expect(lines, takeovers.join(', ')).toHaveLength(RUNS.length * WORKFLOWS.length);
    const jobs = JSON.parse((await ok(e, ['jobs', '--campaign', CAMPAIGN, '--json'])).stdout) as {
      status: string;
      attempt: number;
    }[];
    expect(jobs).toHaveLength(RUNS.length * WORKFLOWS.length);
    expect(jobs.every((j) => j.status === 'done' && j.attempt === 1)).toBe(true);

    // SIGTERM: the holder releases its lease on the way out, the stand-by takes it at its next pass
    const holder = await until('a holder', holderHost, 60_000);
    const d = daemons.get(holder);
    if (!d) throw new Error(`no daemon on ${holder}`);
    d.proc.kill('SIGTERM');
    expect(await exited(d.proc), d.log.join('')).toBe(0);
    const next = await holderOtherThan(holder, 30_000);
    expect(next).not.toBe(holder);
    // `runctrl loops`: the terminated loop stopped, the stand-by live and holding the campaign
    await until(
      'runctrl loops to show the hand-over',
      async () => {
        const r = JSON.parse((await ok(e, ['loops', '--json'])).stdout) as {
          loops: { host: string; status: string; holds: string[] }[];
        };
        const stopped = r.loops.some((l) => l.host === holder && l.status === 'stopped');
        const live = r.loops.some(
          (l) => l.host === next && l.status === 'live' && l.holds.includes(CAMPAIGN),
        );
        return stopped && live ? true : undefined;
      },
      30_000,
    );
  }, 240_000);
});
