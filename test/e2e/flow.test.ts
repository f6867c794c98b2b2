/**
 * Runs flow without waiting: `automation --until-done` takes a three-level chain to done with the default
 * interval of 60 s, each dependency hop (a parent's end → its child submitted) driven by the job's end rather
 * than by the timer — on the local backend and on a real Slurm; the loop works from any working directory
 * (default state directory under XDG_STATE_HOME); job credentials never reach a file.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlurm } from '../helpers/batch.js';
import { spawnCli } from '../helpers/cli.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import {
  cli,
  daemonWithDashboard,
  loggingCommand,
  loopEnv,
  ok,
  statusOf,
  writeCampaign,
  type LoopEnv,
} from '../helpers/loop.js';

interface JobJson {
  name: string;
  workflow: string;
  runs: number[];
  status: string;
  exitCodeFile: string;
  submittedAt: number;
}

const RUNS = [391001, 391002, 391003, 391004, 391005, 391006];

function chain(campaign: string, backend: string, work = 'sleep 0.2; '): object {
  return {
    campaign,
    rtypes: { all: { filter: { global: true }, workflows: ['A', 'B', 'C', 'E'] } },
    workflows: {
      A: { command: loggingCommand('a', work), backend },
      B: { command: loggingCommand('b', work), backend, depends_on: ['A'] },
      C: { command: loggingCommand('c', work), backend, depends_on: ['B'] },
      E: { command: loggingCommand('e'), backend, depends_on: ['C'], granularity: 'era' },
    },
  };
}

async function jobsOf(e: LoopEnv, campaign: string): Promise<JobJson[]> {
  return JSON.parse((await ok(e, ['jobs', '--campaign', campaign, '--json'])).stdout) as JobJson[];
}

/** Parent's end (its exit-code file written) → child submitted, for every dependency edge, in ms. */
function hops(jobs: JobJson[]): number[] {
  const ended = (j: JobJson): number => statSync(j.exitCodeFile).mtimeMs;
  const parentOf: Record<string, string> = { B: 'A', C: 'B', E: 'C' };
  const out: number[] = [];
  for (const child of jobs) {
    const pw = parentOf[child.workflow];
    if (!pw) continue;
    const parents = jobs.filter((j) => j.workflow === pw && j.runs.some((r) => child.runs.includes(r)));
    out.push(child.submittedAt - Math.max(...parents.map(ended)));
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** Every file under dir whose content contains the text. */
function filesContaining(dir: string, text: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && readFileSync(p).includes(text)) found.push(p);
    }
  };
  walk(dir);
  return found;
}

const SECRET = 'S3cret-"quoted"-$HOME-\\-pw';

async function runToDone(e: LoopEnv, campaign: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
  await ok(e, ['apply', path.join(e.dir, `${campaign}.json`)]);
  await ok(e, ['inject', '--campaign', campaign, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
  const t0 = Date.now();
  const r = await cli(e, ['automation', '--until-done', '--interval', '60s', '--campaign', campaign], extra);
  expect(r.code, r.stderr).toBe(0);
  // far below the 60 s interval: the hops were driven by the jobs' ends
  expect(Date.now() - t0).toBeLessThan(45_000);
  return r.stdout;
}

describe('flow on the local backend', () => {
  const db = freshDb('flow');
  let e: LoopEnv;

  beforeAll(() => {
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
  });

  it('--until-done runs a three-level chain and an era aggregation to done, hops driven by job ends', async () => {
    writeCampaign(e, chain('flow_local', 'local'), 'flow_local.json');
    const out = await runToDone(e, 'flow_local', {
      RUNCTRL_INFLUXDB_PASSWORD: SECRET,
      RUNCTRL_INFLUXDB_USER: 'op',
    });
    expect(out).toMatch(
      /^finished: flow_local\/A 6\/6 done, 0 failed, 0 in flight; .*flow_local\/E 6\/6 done/m,
    );
    const s = await statusOf(e, 'flow_local');
    for (const w of ['A', 'B', 'C', 'E']) expect(s.totals[w]).toMatchObject({ done: 6, failed: 0 });
    const lines = readFileSync(e.execLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('flow_local '));
    expect(lines).toHaveLength(19);
    expect(new Set(lines).size).toBe(19);
    const h = hops(await jobsOf(e, 'flow_local'));
    expect(h).toHaveLength(19 - 6);
    expect(median(h), `hops (ms): ${h.join(', ')}`).toBeLessThan(2_000);
  });

  it('never writes the InfluxDB password a job gets into a file', () => {
    expect(filesContaining(String(e.env.RUNCTRL_STATE_DIR), SECRET)).toEqual([]);
  });

  it('works from any working directory with the default state directory', async () => {
    const env = { ...e.env, RUNCTRL_STATE_DIR: '', XDG_STATE_HOME: path.join(e.dir, 'xdg') };
    const campaign = 'flow_dirs';
    const file = writeCampaign(e, chain(campaign, 'local', ''), `${campaign}.json`);
    const as = { ...e, env };
    await ok(as, ['apply', file]);
    await ok(as, ['inject', '--campaign', campaign, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
    const one = path.join(e.dir, 'one');
    const two = path.join(e.dir, 'two');
    mkdirSync(one);
    mkdirSync(two);
    for (let i = 0; i < 12; i++) {
      // each pass from the other directory, as cron ($HOME) and Jenkins (its workspace) would
      const r = await spawnCli(['automation', '--once', '--campaign', campaign], {
        env,
        cwd: i % 2 ? two : one,
      });
      expect(r.code, r.stderr).toBe(0);
      const s = await statusOf(as, campaign);
      if (Object.values(s.totals).every((t) => t.done === 6)) {
        expect(readdirSync(path.join(e.dir, 'xdg', 'runctrl'))).toContain('jobs');
        expect(readdirSync(one)).toEqual([]);
        return;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`not done: ${JSON.stringify((await statusOf(as, campaign)).totals)}`);
  });
});

describe('the daemon serves its own dashboard', () => {
  const db = freshDb('flowserve');
  let e: LoopEnv;
  beforeAll(() => {
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
  });

  it('--daemon --serve: the pages show the live state the loop holds, as status --json says', async () => {
    const campaign = 'flow_serve';
    writeCampaign(e, chain(campaign, 'local', ''), `${campaign}.json`);
    await ok(e, ['apply', path.join(e.dir, `${campaign}.json`)]);
    await ok(e, ['inject', '--campaign', campaign, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
    const d = await daemonWithDashboard(e, campaign);
    try {
      let served: { totals?: Record<string, Record<string, number>> } = {};
      for (let i = 0; i < 100 && served.totals?.E?.done !== 6; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const res = await fetch(`${d.url}/api/status?campaign=${campaign}`);
        served = res.ok ? ((await res.json()) as typeof served) : {};
      }
      expect(served.totals).toEqual((await statusOf(e, campaign)).totals);
      expect(served.totals?.E).toMatchObject({ done: 6 });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});

const root = process.getuid?.() === 0;

describe.runIf(root)('flow on a real Slurm', () => {
  const db = freshDb('flowslurm');
  let e: LoopEnv;
  let slurm: { conf: string; stop: () => void } | undefined;

  beforeAll(() => {
    slurm = startSlurm();
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
    e.env.SLURM_CONF = slurm.conf;
  });
  afterAll(() => slurm?.stop());

  it('dependency hops take well under the interval: jobs report their end and wake the loop', async () => {
    writeCampaign(e, chain('flow_slurm', 'slurm'), 'flow_slurm.json');
    await runToDone(e, 'flow_slurm');
    const s = await statusOf(e, 'flow_slurm');
    for (const w of ['A', 'B', 'C', 'E']) expect(s.totals[w]).toMatchObject({ done: 6, failed: 0 });
    const h = hops(await jobsOf(e, 'flow_slurm'));
    expect(median(h), `hops (ms): ${h.join(', ')}`).toBeLessThan(2_000);
  });
});
