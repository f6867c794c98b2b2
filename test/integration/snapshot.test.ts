/**
 * Snapshots against the real influxd: the state read through the fast path (snapshot + points since its
 * watermark) equals the full read on a randomised history, with writes concurrent with taking a snapshot, late
 * writes (client timestamps older than their arrival) and missing, stale, partial or corrupt snapshots.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { expectFastEqualsFull as sameAsFull } from '../helpers/snapshot.js';
import { encodePoints, type PointSpec } from '../../src/store/lineproto.js';
import { jobPoint, runInfoPoint, runStatePoint } from '../../src/store/schema.js';
import {
  checksum,
  chunkPoints,
  encodeChunks,
  headPoint,
  SNAPSHOT_SCHEMA,
  type CampaignState,
} from '../../src/store/snapshot.js';
import { Store } from '../../src/store/store.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import { RUN_STATUSES } from '../../src/domain/status.js';

const client = freshDb('snap');
const store = new Store(client);
const WORKFLOWS = ['reco', 'pi0', 'timing,x'];

/** A small deterministic PRNG (mulberry32), so a failing history can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function job(
  campaign: string,
  workflow: string,
  run: number,
  attempt: number,
  status: JobRecord['status'],
): JobRecord {
  return {
    campaign,
    workflow,
    name: `rc.${campaign}.${workflow}.r${run}.a${attempt}`,
    unit: `r${run}`,
    runs: [run],
    attempt,
    status,
    backend: 'local',
    nativeId: status === 'idle' ? '' : `${run}${attempt}`,
    stdout: '/tmp/o "quoted"',
    stderr: '',
    exitCodeFile: '',
    outputFile: '',
    exitCode: status === 'done' ? 0 : status === 'failed' ? 3 : null,
    outputs: status === 'done' ? [`/out/${run}.root`] : [],
    reason: status === 'failed' ? 'exit 3, naïve ünïcode' : '',
    submittedAt: 1000 + run,
    unknownSince: 0,
    heldSince: 0,
    time: 0,
  };
}

/** One random write: transitions of random pairs, a few registrations and job points. */
function randomBatch(campaign: string, r: () => number, runs: number): PointSpec[] {
  const pts: PointSpec[] = [];
  const n = 1 + Math.floor(r() * 40);
  for (let i = 0; i < n; i++) {
    const run = 390000 + Math.floor(r() * runs);
    const workflow = WORKFLOWS[Math.floor(r() * WORKFLOWS.length)] ?? 'reco';
    const status = RUN_STATUSES[Math.floor(r() * RUN_STATUSES.length)] ?? 'new';
    const attempt = Math.floor(r() * 4);
    pts.push(
      runStatePoint(campaign, {
        run,
        workflow,
        status,
        attempt,
        tries: Math.floor(r() * 3),
        outputs: r() < 0.3 ? [`/o/${run}.a`, `/o/${run}.b`] : [],
        reason: r() < 0.2 ? `why "${run}"\\` : '',
      }),
    );
    if (r() < 0.2) pts.push(runInfoPoint(campaign, makeRun(run, { fill: Math.floor(r() * 100) }), ['all']));
    if (r() < 0.3) pts.push(jobPoint(job(campaign, workflow, run, attempt, r() < 0.5 ? 'running' : 'done')));
  }
  return pts;
}

async function writeRandom(campaign: string, r: () => number, batches: number, runs = 60): Promise<void> {
  for (let b = 0; b < batches; b++) await store.write(randomBatch(campaign, r, runs));
}

const expectFastEqualsFull = (c: string, via: 'snapshot' | 'full'): Promise<void> =>
  sameAsFull(store, c, via);

/** Writes lines whose client timestamps are `agoMs` in the past (a late write, or a host whose clock is behind). */
async function writeLate(points: PointSpec[], agoMs: number): Promise<void> {
  const { lines } = encodePoints(points);
  const shifted = lines.map((l) =>
    l.replace(/ (\d+)(\d{6})$/, (_m, ms: string, sub: string) => ` ${Number(ms) - agoMs}${sub}`),
  );
  await client.write(shifted);
}

beforeAll(async () => {
  await store.ensureDatabase();
});

describe('fast path equals the full read', () => {
  it('on randomised histories, snapshots taken at random points (5 seeds)', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const c = `rand${seed}`;
      const r = rng(seed);
      await expectFastEqualsFull(c, 'full'); // no snapshot yet (and no points)
      await writeRandom(c, r, 10);
      await expectFastEqualsFull(c, 'full');
      const first = await store.campaignState(c);
      await store.writeSnapshot(c, first, first.readAt);
      await expectFastEqualsFull(c, 'snapshot');
      await writeRandom(c, r, 10);
      await expectFastEqualsFull(c, 'snapshot');
      // a snapshot taken through the fast path itself, then more history
      const second = await store.campaignState(c);
      await store.writeSnapshot(c, second, second.readAt);
      await writeRandom(c, r, 5);
      await expectFastEqualsFull(c, 'snapshot');
    }
  });

  it('with writes concurrent with taking a snapshot (during the read, between chunks and head)', async () => {
    const c = 'conc';
    const r = rng(42);
    await writeRandom(c, r, 10);
    const during = writeRandom(c, r, 20); // in flight while the state is read and the snapshot written
    const st = await store.campaignState(c);
    await store.writeSnapshot(c, st, st.readAt, () => void writeRandom(c, r, 1));
    await during;
    await writeRandom(c, r, 3);
    await new Promise((res) => setTimeout(res, 200)); // the write started in beforeHead has landed
    await expectFastEqualsFull(c, 'snapshot');
  });

  it('with late writes: client timestamps older than the watermark, inside the overlap window', async () => {
    const c = 'late';
    const r = rng(7);
    // the history so far was stamped 5 minutes ago, so a late point stamped 2 minutes ago is the newest
    for (let b = 0; b < 5; b++) await writeLate(randomBatch(c, r, 10), 300_000);
    const st = await store.campaignState(c);
    await store.writeSnapshot(c, st, st.readAt);
    // a point of a pair the snapshot holds, stamped 2 minutes before the snapshot, arrives after it
    const s = [...st.states.values()][0];
    expect(s).toBeDefined();
    if (!s) return;
    await writeLate([runStatePoint(c, { ...s, status: 'failed', reason: 'late report' })], 120_000);
    const fast = await store.campaignState(c);
    expect(fast.states.get(`${s.workflow}\u0000${s.run}`)?.reason).toBe('late report');
    await expectFastEqualsFull(c, 'snapshot');
  });

  it('keeps at most the two newest generations', async () => {
    const c = 'prune';
    await writeRandom(c, rng(3), 3);
    for (let i = 0; i < 4; i++) {
      const st = await store.campaignState(c);
      await store.writeSnapshot(c, st, st.readAt);
    }
    const gens = await client.rows(
      `SELECT "gen" FROM "snapshot" WHERE "campaign" = 'prune' AND "part" = 'head'`,
    );
    expect(new Set(gens.map((g) => g.gen)).size).toBe(2);
    await expectFastEqualsFull(c, 'snapshot');
  });
});

describe('an unusable snapshot falls back to the full read', () => {
  async function base(c: string): Promise<CampaignState & { readAt: number }> {
    await writeRandom(c, rng(c.length), 6);
    const st = await store.campaignState(c);
    await store.writeSnapshot(c, st, st.readAt);
    await writeRandom(c, rng(99), 2);
    return st;
  }

  /** A head over chunks written by hand (what a bug, a crash or an older runctrl could leave). */
  async function forge(
    c: string,
    st: CampaignState,
    edit: (chunks: string[]) => { chunks: string[]; head?: Partial<Parameters<typeof headPoint>[1]> },
  ): Promise<void> {
    const good = encodeChunks(st);
    const { chunks, head } = edit(good);
    const gen = `forged-${c}`;
    const first = await store.write(chunkPoints(c, gen, chunks));
    await store.write([
      headPoint(c, {
        gen,
        schema: SNAPSHOT_SCHEMA,
        watermark: Date.now(),
        first,
        chunks: good.length,
        sum: checksum(good),
        states: st.states.size,
        runs: st.registered.size,
        jobs: st.jobs.size,
        ...head,
      }),
    ]);
  }

  it('a snapshot of another schema version (stale)', async () => {
    const st = await base('stale');
    await forge('stale', st, (chunks) => ({ chunks, head: { schema: SNAPSHOT_SCHEMA + 1 } }));
    await expectFastEqualsFull('stale', 'full');
  });

  it('a corrupt chunk (checksum mismatch)', async () => {
    const st = await base('corrupt');
    await forge('corrupt', st, (chunks) => ({
      chunks: chunks.map((x, i) => (i === 0 ? x.replace(/\d/, (d) => String((Number(d) + 1) % 10)) : x)),
    }));
    await expectFastEqualsFull('corrupt', 'full');
  });

  it('missing chunks (a head over a partial generation)', async () => {
    const st = await base('partial');
    await forge('partial', st, (chunks) => ({ chunks: chunks.slice(0, -1) }));
    await expectFastEqualsFull('partial', 'full');
  });

  it('counts that disagree with the chunks', async () => {
    const st = await base('counts');
    await forge('counts', st, (chunks) => ({ chunks, head: { states: st.states.size + 1 } }));
    await expectFastEqualsFull('counts', 'full');
  });

  it('chunks without a head (a writer killed before the head) are never read', async () => {
    const c = 'headless';
    await writeRandom(c, rng(5), 4);
    const st = await store.campaignState(c);
    await store.write(chunkPoints(c, 'no-head', encodeChunks(st)));
    await writeRandom(c, rng(6), 2);
    await expectFastEqualsFull(c, 'full');
  });
});
