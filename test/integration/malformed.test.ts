/**
 * One malformed point (written straight to InfluxDB, as any job holding the loop's credentials can) breaks
 * nothing else: list counts it and exits 0, status and compact work, the loop processes the other pairs,
 * the dashboard's /api/campaigns answers 200, a newer valid point supersedes it, and the DELETE the warning
 * gives removes it (docs/malformed-points.md).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deflateRawSync } from 'node:zlib';
import { checksum, chunkPoints, encodeChunks, headPoint, SNAPSHOT_SCHEMA } from '../../src/store/snapshot.js';
import type { MalformedPoint } from '../../src/store/malformed.js';
import { stateKey } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { serve, type Dashboard } from '../../src/web/server.js';
import { storeSource } from '../../src/web/source.js';
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
import { runCli } from '../helpers/cli.js';

const client = freshDb('malformed');
let e: LoopEnv;
const C = 'forged';

interface ListJson {
  campaign: string;
  malformed: number;
  counts: Record<string, number>;
}

async function list(): Promise<{ rows: ListJson[]; stderr: string }> {
  const r = await runCli(['list', '--json'], { env: e.env, cwd: e.dir });
  expect(r.code, r.stderr).toBe(0);
  return { rows: JSON.parse(r.stdout) as ListJson[], stderr: r.stderr };
}

const forged = async (line: string): Promise<void> => client.write([line]);

beforeAll(async () => {
  e = loopEnv(client.db, undefined);
  const file = writeCampaign(e, {
    campaign: C,
    rtypes: { all: { filter: { global: true }, workflows: ['wf'] } },
    workflows: { wf: { command: loggingCommand('wf') } },
  });
  const other = writeCampaign(
    e,
    {
      campaign: 'sane',
      rtypes: { all: { filter: { global: true }, workflows: ['wf'] } },
      workflows: { wf: { command: loggingCommand('s') } },
    },
    'sane.json',
  );
  await ok(e, ['apply', file]);
  await ok(e, ['apply', other]);
  await ok(e, ['inject', '--campaign', C, '--range', '386001,386003']);
  await ok(e, ['inject', '--campaign', 'sane', '--range', '386001,386002']);
  // a pair with no valid point at all, a pair whose newest point is malformed, a job that is not one-hot
  await forged(`run,campaign=${C},workflow=wf run=900103i,status="<img>"`);
  await forged(`run,campaign=${C},workflow=wf run=386002i,status="\u001b[31mdone\u202e"`);
  await forged(`job,campaign=${C},workflow=wf job="rc.forged.wf.r386003.a9",idle=true,running=true`);
}, 60_000);

describe('a malformed point', () => {
  it('is counted by list (exit 0) and warned of once with the DELETE that removes it', async () => {
    const { rows, stderr } = await list();
    const f = rows.find((x) => x.campaign === C);
    expect(f?.malformed).toBe(2); // list reads run points: the two of them
    expect(f?.counts.new).toBe(3); // 386002 keeps its last valid state
    expect(rows.find((x) => x.campaign === 'sane')?.malformed).toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^runctrl: warning: skipped a malformed run point \(campaign forged, workflow wf, run \d+, time \S+Z\): unknown run status .*DELETE FROM "run" WHERE "campaign" = 'forged' AND "workflow" = 'wf' AND time = '\S+Z'$/,
    );
    // stored control and bidi characters are shown escaped, never raw
    expect(stderr).toContain('\\u001b[31mdone\\u202e');
    expect(stderr.includes('\u001b') || stderr.includes('\u202e')).toBe(false);
    const table = await runCli(['list'], { env: e.env, cwd: e.dir });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/malformed/);
  });

  it('leaves status, compact and the other campaigns working', async () => {
    const s = await statusOf(e, C);
    expect(s.totals.wf).toMatchObject({ new: 3 });
    expect((s as unknown as { malformed: number }).malformed).toBe(2);
    const text = await runCli(['status', '--campaign', C], { env: e.env, cwd: e.dir });
    expect(text.stdout).toMatch(/2 malformed point\(s\) skipped/);
    const c = await runCli(['compact', '--json'], { env: e.env, cwd: e.dir });
    expect(c.code, c.stderr).toBe(0);
    // after the snapshot the points are still read (they are newer than its watermark's overlap) and counted
    expect((await list()).rows.find((x) => x.campaign === C)?.malformed).toBe(2);
    const jobs = await runCli(['jobs', '--campaign', C, '--json'], { env: e.env, cwd: e.dir });
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stderr).toMatch(
      /malformed job point \(campaign forged, workflow wf, time \S+Z\): job status is not one-hot.*DELETE FROM "job" WHERE "campaign" = 'forged' AND "workflow" = 'wf' AND time = '\S+Z'$/m,
    );
  });

  it('is warned of once per process, however often it is read', async () => {
    const store = new Store(client);
    const lines: string[] = [];
    store.onMalformed = (l) => lines.push(l);
    for (let i = 0; i < 3; i++) {
      const malformed: MalformedPoint[] = [];
      const states = await store.runStates(C, { malformed });
      expect(malformed.map((p) => p.run).sort()).toEqual([386002, 900103]);
      expect(states.get(stateKey(386002, 'wf'))?.status).toBe('new');
      expect(states.has(stateKey(900103, 'wf'))).toBe(false);
    }
    expect(lines).toHaveLength(2);
  });

  it('answers /api/campaigns with 200 and the count', async () => {
    const store = new Store(client);
    const d: Dashboard = await serve({
      source: storeSource(store),
      port: 0,
      jobRoot: mkdtempSync(path.join(os.tmpdir(), 'runctrl-mf-')),
    });
    try {
      const r = await fetch(`${d.url}api/campaigns`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { campaign: string; malformed: number }[];
      expect(body.find((x) => x.campaign === C)?.malformed).toBeGreaterThanOrEqual(2);
    } finally {
      await d.close();
    }
  });

  it(
    'does not stop the loop: every registered pair of both campaigns gets done',
    { timeout: 120_000 },
    async () => {
      const r = await cli(e, ['automation', '--once']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/malformed run point/);
      const s = await untilSettled(e, C);
      expect(s.totals.wf).toMatchObject({ done: 3, new: 0 });
      expect((await statusOf(e, 'sane')).totals.wf).toMatchObject({ done: 2 });
      // the loop's newer valid point for 386002 superseded the malformed one
      expect((await list()).rows.find((x) => x.campaign === C)?.malformed).toBe(1);
    },
  );

  it('is superseded by a newer valid point, and removed by the DELETE of its warning', async () => {
    const { stderr } = await list();
    const del = /(DELETE FROM .*)$/m.exec(stderr)?.[1];
    expect(del).toBeDefined();
    await forged(`run,campaign=${C},workflow=wf run=900103i,status="failed",reason="recovered"`);
    const after = await list();
    expect(after.rows.find((x) => x.campaign === C)?.malformed).toBe(0);
    expect(after.stderr).toBe('');
    await client.query(del ?? '', {}, { write: true });
    const all = await client.rows(
      `SELECT "status" FROM "run" WHERE "campaign" = 'forged' AND "run" = 900103`,
    );
    expect(all.map((x) => x.status)).toEqual(['failed']);
  });
});

/** A snapshot of the campaign's state whose checksum is right but whose columns are not (as a forger would). */
async function forgeSnapshot(store: Store, campaign: string, gen: string): Promise<void> {
  const st = await store.fullState(campaign);
  // the chunks' other columns (attempt, tries, …; the registered runs' records) replaced by something else
  const broken = deflateRawSync('[1]').toString('base64');
  const chunks = encodeChunks(st).map((c) =>
    c.startsWith('j') ? c : `${c.slice(0, c.indexOf('.'))}.${broken}`,
  );
  const first = await store.write(chunkPoints(campaign, gen, chunks));
  await store.write([
    headPoint(campaign, {
      gen,
      schema: SNAPSHOT_SCHEMA,
      // ahead of every point: the readers take every pair from the snapshot
      watermark: Date.now() + 600_000,
      first,
      chunks: chunks.length,
      sum: checksum(chunks),
      states: st.states.size,
      runs: st.registered.size,
      jobs: st.jobs.size,
    }),
  ]);
  expect((await store.snapshotHead(campaign))?.gen).toBe(gen);
}

describe('a forged snapshot (its checksum right, its columns undecodable)', () => {
  const store = new Store(client);
  const cmd = (...args: string[]) => runCli(args, { env: e.env, cwd: e.dir });

  it(
    'is refused by the loop, which reads the history and processes the campaign',
    { timeout: 120_000 },
    async () => {
      await ok(e, ['inject', '--campaign', 'sane', '--runs', '386003']);
      await forgeSnapshot(store, 'sane', 'forged-1');
      const r = await cli(e, ['automation', '--once', '-c', 'sane']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/snapshot generation forged-1 does not decode: reading the history instead/);
      const s = await untilSettled(e, 'sane', { args: ['-c', 'sane'] });
      expect(s.totals.wf).toMatchObject({ new: 0, done: 3 });
    },
  );

  it('is refused by status, why and compact; compact replaces it', async () => {
    await forgeSnapshot(store, 'sane', 'forged-2');
    const st = await cmd('status', '--campaign', 'sane', '--json');
    expect(st.code, st.stderr).toBe(0);
    expect((JSON.parse(st.stdout) as { rows: { era: string }[] }).rows.map((x) => x.era)).toHaveLength(3);
    const w = await cmd('why', '--campaign', 'sane', '--run', '386003');
    expect(w.code, w.stderr).toBe(0);
    const c = await cmd('compact', '--campaign', 'sane');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/forged-2 does not decode/);
    expect((await store.snapshotHead('sane'))?.gen).not.toBe('forged-2');
    expect((await cmd('status', '--campaign', 'sane')).stderr).toBe('');
  });
});
