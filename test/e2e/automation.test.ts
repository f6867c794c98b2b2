/**
 * The automation loop end to end, as an operator (or Jenkins) runs it: a campaign with four workflows —
 * B after A, C failing its first attempt, D aggregating an era — receives 20 runs; `automation --once` is
 * repeated until nothing is left; a lock holds D back until released; a deactivated campaign gets no jobs.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSge, startSlurm } from '../helpers/batch.js';
import { freshDb } from '../helpers/influx.js';
import {
  cli,
  loggingCommand,
  loopEnv,
  ok,
  statusOf,
  untilSettled,
  writeCampaign,
  type LoopEnv,
} from '../helpers/loop.js';

interface JobJson {
  name: string;
  workflow: string;
  runs: number[];
  attempt: number;
  status: string;
  nativeId: string;
  outputs: string[];
}

// Slurm and Grid Engine are started privately by the test (they need root, as in CI)
const BACKENDS = process.getuid?.() === 0 ? ['local', 'slurm', 'sge'] : ['local'];

describe.each(BACKENDS)('automation loop, end to end on the %s backend', (backend) => {
  const db = freshDb(`auto_${backend}`);
  let e: LoopEnv;
  let stopServer: (() => void) | undefined;
  const passes = backend === 'local' ? {} : { maxPasses: 80, pauseMs: 700 };

  afterAll(() => stopServer?.(), 60_000);

  beforeAll(async () => {
    e = loopEnv(db.db);
    if (backend === 'slurm') {
      const s = startSlurm();
      stopServer = s.stop;
      e.env.SLURM_CONF = s.conf;
    }
    if (backend === 'sge') {
      const s = startSge();
      stopServer = s.stop;
      e.env.PATH = `${s.bin}:${process.env.PATH ?? ''}`;
    }
    const main = writeCampaign(e, {
      campaign: 'rereco',
      rtypes: { all: { filter: { global: true }, workflows: ['A', 'B', 'C', 'D'] } },
      workflows: {
        A: { command: loggingCommand('a'), backend },
        B: { command: loggingCommand('b', 'test -n {inputs} || exit 9; '), depends_on: ['A'], backend },
        C: { command: loggingCommand('c', 'test {attempt} -ge 2 || exit 3; '), max_retries: 2, backend },
        D: { command: loggingCommand('d'), depends_on: ['A', 'B'], granularity: 'era', backend },
      },
    });
    const other = writeCampaign(
      e,
      {
        campaign: 'parked',
        rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
        workflows: { A: { command: loggingCommand('a') } },
      },
      'parked.json',
    );
    await ok(e, ['apply', main]);
    await ok(e, ['apply', other]);
    await ok(e, ['inject', '--campaign', 'rereco', '--range', '386001,386108']);
    await ok(e, ['inject', '--campaign', 'parked', '--range', '386001,386108']);
    await ok(e, ['deactivate', '--campaign', 'parked']);
    await ok(e, [
      'lock',
      '--campaign',
      'rereco',
      '--workflow',
      'D',
      '--from-run',
      '386001',
      '--reason',
      'waiting for new pedestals',
    ]);
  }, 60_000);

  it('processes everything but the locked workflow, then D once unlocked', { timeout: 240_000 }, async () => {
    const held = await untilSettled(e, 'rereco', {
      ...passes,
      settled: (s) => ['A', 'B', 'C'].every((w) => s.totals[w]?.done === 20),
    });
    // a lock in force: blocked, not waiting
    expect(held.totals.D).toMatchObject({ blocked: 20, new: 0, processing: 0, done: 0 });
    const locks = JSON.parse((await ok(e, ['locks', '--json'])).stdout) as { workflow: string }[];
    expect(locks.map((l) => l.workflow)).toEqual(['D']);

    await ok(e, ['unlock', '--campaign', 'rereco', '--workflow', 'D']);
    const s = await untilSettled(e, 'rereco', passes);
    for (const w of ['A', 'B', 'C', 'D'])
      expect(s.totals[w]).toMatchObject({ done: 20, failed: 0, new: 0, processing: 0 });
    expect(s.rows).toHaveLength(20);
  });

  it('recorded the right attempts: C failed once and succeeded on retry, the others took one attempt', async () => {
    const jobs = JSON.parse((await ok(e, ['jobs', '--campaign', 'rereco', '--json'])).stdout) as JobJson[];
    const c = jobs.filter((j) => j.workflow === 'C');
    expect(c.filter((j) => j.attempt === 1).every((j) => j.status === 'failed')).toBe(true);
    expect(c.filter((j) => j.attempt === 2).map((j) => j.status)).toEqual(Array(20).fill('done'));
    for (const w of ['A', 'B']) {
      const js = jobs.filter((j) => j.workflow === w);
      expect(js).toHaveLength(20);
      expect(js.every((j) => j.status === 'done' && j.attempt === 1)).toBe(true);
      const idShape =
        { local: /^local:/, slurm: /^\d+(_\d+)?(@[\w.-]+)?$/, sge: /^\d+(\.\d+)?$/ }[backend] ?? /^$/;
      expect(js.map((j) => j.nativeId).filter((id) => !idShape.test(id))).toEqual([]);
    }
    const d = jobs.filter((j) => j.workflow === 'D');
    expect(d.map((j) => j.runs.length).sort()).toEqual([12, 8].sort());
  });

  it('ran every job exactly once per attempt', () => {
    const lines = readFileSync(e.execLog, 'utf8').trim().split('\n');
    expect(new Set(lines).size).toBe(lines.length);
    // A, B: 20 each; C: 20 failures + 20 successes; D: one per era
    expect(lines.length).toBe(20 + 20 + 40 + 2);
    expect(lines.filter((l) => l.startsWith('parked '))).toEqual([]);
  });

  it('recorded outputs per run, and handed A outputs to B and A+B outputs to the era job', async () => {
    const a = JSON.parse(
      (await ok(e, ['outputs', '--campaign', 'rereco', '--workflow', 'A', '--era', 'Run2024C', '--json']))
        .stdout,
    ) as {
      runs: { run: number; outputs: string[] }[];
    };
    expect(a.runs).toHaveLength(12);
    for (const r of a.runs)
      expect(r.outputs).toEqual([
        expect.stringMatching(new RegExp(`/rereco/A/r${r.run}/a_r${r.run}_a1\\.out$`)),
      ]);
    const d = JSON.parse(
      (await ok(e, ['outputs', '--campaign', 'rereco', '--workflow', 'D', '--runs', '386101', '--json']))
        .stdout,
    ) as {
      runs: { run: number; outputs: string[] }[];
    };
    expect(d.runs[0]?.outputs).toEqual([
      expect.stringMatching(/\/rereco\/D\/gRun2024D-386101-386108\/d_gRun2024D-386101-386108_a1\.out$/),
    ]);
  });

  it('gave the deactivated campaign no jobs', async () => {
    const jobs = JSON.parse((await ok(e, ['jobs', '--campaign', 'parked', '--json'])).stdout) as JobJson[];
    expect(jobs).toEqual([]);
    const s = await statusOf(e, 'parked');
    // deactivated: blocked, not waiting
    expect(s.totals.A).toMatchObject({ blocked: 20, new: 0, processing: 0 });
  });

  it('a second pass with nothing to do changes nothing and a dry run submits nothing', async () => {
    const r = await cli(e, ['automation', '--once', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as {
      campaigns: { submitted: number; wouldSubmit: unknown[] }[];
      queries: number;
    };
    expect(rep.campaigns.every((c) => c.submitted === 0 && c.wouldSubmit.length === 0)).toBe(true);
    // a constant number of queries: 3 for the campaigns, 1 for the locks, 5 per campaign (2 campaigns here):
    // the snapshot's head and chunks, and the states, runs and jobs written since its watermark
    expect(rep.queries).toBe(3 + 1 + 5 * 2);
  });
});
