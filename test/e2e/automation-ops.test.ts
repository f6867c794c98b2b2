/**
 * Operator-facing behaviour around the loop: one loop at a time (lease), webhooks and JUnit on failure, jobs
 * reporting their own status and outputs, reprocess and reset, job listing with logs, dry runs.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { makeRun } from '../helpers/fixtures.js';
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
  outputs: string[];
  reason: string;
  stdout: string;
}

describe('automation: operations around the loop', () => {
  const db = freshDb('ops');
  let e: LoopEnv;
  let hook: Server;
  const received: string[] = [];
  let hookUrl = '';

  beforeAll(async () => {
    e = loopEnv(
      db.db,
      [392001, 392002, 392003].map((r) => makeRun(r)),
    );
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const addr = hook.address();
    hookUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hooks/secret-token`;
    e.env.RUNCTRL_WEBHOOKS = `http://127.0.0.1:9/down-hook,${hookUrl}`;
    e.env.RUNCTRL_BIN = BIN;
    const file = writeCampaign(e, {
      campaign: 'ops',
      rtypes: { all: { filter: { global: true }, workflows: ['good', 'bad', 'selfreport'] } },
      workflows: {
        good: { command: loggingCommand('good') },
        bad: { command: loggingCommand('bad', 'echo broken >&2; exit 7; '), max_retries: 1 },
        selfreport: {
          command:
            'node "$RUNCTRL_BIN" job running --campaign {campaign} --workflow {workflow} --run {run} --id {attempt} && node "$RUNCTRL_BIN" job done --campaign {campaign} --workflow {workflow} --run {run} --id {attempt} --output /data/{run}/x.root --output "/data/{run}/y, v2.root"',
        },
      },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'ops', '--range', '392001,392003']);
  }, 60_000);

  afterAll(() => {
    hook.close();
  });

  it('a second loop exits at once, naming the holder', async () => {
    const daemon = spawn(
      process.execPath,
      [BIN, 'automation', '--daemon', '--interval', '30s', '--campaign', 'nothing-here'],
      {
        cwd: e.dir,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...e.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    daemon.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((res) => daemon.on('close', (code) => res(code)));
    for (let i = 0; i < 100 && !/pass:/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
    const second = await cli(e, ['automation', '--once', '--campaign', 'nothing-here']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another runctrl loop holds .*loop-.*\.lock \(pid \d+/);
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('a loop of another machine holding the lease in InfluxDB: --once skips the campaign, -c refuses it', async () => {
    // a foreign lease (another host) written straight into the lease measurement
    const now = Date.now();
    await db.write([`lease,scope=ops owner="otherhost:4242:abc",expires=${now + 600_000}i ${now}000000`]);
    try {
      const all = await cli(e, ['automation', '--once']);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toMatch(/skipped campaign ops: held by another loop \(otherhost:4242:abc/);
      const named = await cli(e, ['automation', '--once', '--campaign', 'ops']);
      expect(named.code).toBe(1);
      expect(named.stderr).toMatch(/campaign 'ops' is being processed by another loop \(otherhost:4242:abc/);
    } finally {
      await db.write([`lease,scope=ops owner="otherhost:4242:abc",expires=0i ${Date.now()}000000`]);
    }
  });

  it('runs to the end: failures notify the webhooks (a dead one does not block) and land in the JUnit report', async () => {
    const junit = path.join(e.dir, 'pass.xml');
    let failuresReported = '';
    let log = '';
    for (let i = 0; i < 25; i++) {
      const r = await cli(e, ['automation', '--once', '--junit', junit]);
      expect(r.code, r.stderr).toBe(0);
      log += r.stderr;
      const xml = readFileSync(junit, 'utf8');
      expect(xml).toMatch(/^<\?xml version="1.0"/);
      if (xml.includes('<failure')) failuresReported += xml;
      const st = await statusOf(e, 'ops');
      if (
        Object.values(st.totals).every((t) => (t.new ?? 0) + (t.processing ?? 0) + (t.reprocess ?? 0) === 0)
      )
        break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const s = await statusOf(e, 'ops');
    expect(s.totals.good).toMatchObject({ done: 3 });
    expect(s.totals.bad).toMatchObject({ failed: 3 });
    expect(s.totals.selfreport).toMatchObject({ done: 3 });
    expect(failuresReported).toMatch(
      /<testcase classname="ops.bad" name="run 392001"><failure message="attempt 2 failed: exit 7/,
    );
    expect(received.some((b) => /"text":"runctrl: 3 run×workflow pair\(s\) failed for good/.test(b))).toBe(
      true,
    );
    expect(log).toMatch(/notification to webhook #1 failed/);
    expect(log).not.toMatch(/secret-token|down-hook/);
  });

  it('lists outputs the jobs reported themselves', async () => {
    const out = JSON.parse(
      (
        await ok(e, [
          'outputs',
          '--campaign',
          'ops',
          '--workflow',
          'selfreport',
          '--runs',
          '392002',
          '--json',
        ])
      ).stdout,
    ) as {
      runs: { run: number; outputs: string[] }[];
    };
    expect(out.runs).toEqual([
      {
        run: 392002,
        era: 'Run2024C',
        status: 'done',
        outputs: ['/data/392002/x.root', '/data/392002/y, v2.root'],
      },
    ]);
  });

  it('shows failed jobs with their exit code and log paths', async () => {
    const jobs = JSON.parse(
      (await ok(e, ['jobs', '--campaign', 'ops', '--workflow', 'bad', '--status', 'failed', '--json']))
        .stdout,
    ) as JobJson[];
    expect(jobs).toHaveLength(6);
    expect(jobs.every((j) => /exit/.test(j.reason))).toBe(true);
    const first = jobs[0];
    expect(first && existsSync(first.stdout)).toBe(true);
    const table = (
      await ok(e, ['jobs', '--campaign', 'ops', '--workflow', 'bad', '--run', '392001', '--logs'])
    ).stdout;
    expect(table).toMatch(/stderr/);
    expect(readFileSync(first?.stdout.replace(/stdout$/, 'stderr') ?? '', 'utf8')).toMatch(/broken/);
  });

  it('reprocess --mode failed sets only failed pairs; reset puts pairs back to new', async () => {
    const dry = JSON.parse(
      (
        await ok(e, [
          'reprocess',
          '--campaign',
          'ops',
          '--workflow',
          'bad',
          '--runs',
          '392001,392002',
          '--dry-run',
          '--json',
        ])
      ).stdout,
    ) as {
      changed: unknown[];
    };
    expect(dry.changed).toHaveLength(2);
    expect((await statusOf(e, 'ops')).totals.bad).toMatchObject({ failed: 3, reprocess: 0 });
    await ok(e, ['reprocess', '--campaign', 'ops', '--workflow', 'bad', '--runs', '392001,392002']);
    const none = JSON.parse(
      (await ok(e, ['reprocess', '--campaign', 'ops', '--workflow', 'good', '--runs', '392001', '--json']))
        .stdout,
    ) as {
      changed: unknown[];
      skipped: { why: string }[];
    };
    expect(none.changed).toEqual([]);
    expect(none.skipped[0]?.why).toMatch(/not failed/);
    await ok(e, ['reset', '--campaign', 'ops', '--workflow', 'good', '--runs', '392003']);
    const s = await statusOf(e, 'ops');
    expect(s.totals.bad).toMatchObject({ failed: 1, reprocess: 2 });
    expect(s.totals.good).toMatchObject({ done: 2, new: 1 });
    // the loop takes them up again with new attempts
    const after = await untilSettled(e, 'ops');
    expect(after.totals.good).toMatchObject({ done: 3 });
    const jobs = JSON.parse(
      (await ok(e, ['jobs', '--campaign', 'ops', '--workflow', 'good', '--run', '392003', '--json'])).stdout,
    ) as JobJson[];
    expect(jobs.map((j) => [j.attempt, j.status])).toEqual([
      [1, 'done'],
      [2, 'done'],
    ]);
  });

  it('refuses bad operator input with clear errors', async () => {
    const r1 = await cli(e, ['reprocess', '--campaign', 'ops', '--workflow', 'nope', '--runs', '392001']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/unknown workflow 'nope' in campaign 'ops'/);
    const r2 = await cli(e, ['unlock', '--campaign', 'ops', '--workflow', 'good']);
    expect(r2.stderr).toMatch(/is not locked/);
    const r3 = await cli(e, ['automation', '--once', '--interval', 'soon']);
    expect(r3.code).toBe(2);
  });
});
