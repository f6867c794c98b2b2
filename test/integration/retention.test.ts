/**
 * Retention on a real InfluxDB, after a real campaign on the local backend processed four runs and reprocessed
 * workflow A three times: pruning keeps every read the same (`status --json`, the full read equal to the snapshot
 * read), leaves each pair its last N status points and only the jobs of its last attempt, says so in `why`, and
 * the pruned pairs reprocess fine. A prune cut short after its snapshot, or between two DELETE requests, loses
 * nothing and the next one finishes it. The loops' heartbeats (and old prune markers) of a simulated year go but
 * the newest of each loop, and `runctrl loops --json` answers the same before, during and after.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { pruneCampaign, pruneLoopHeartbeats } from '../../src/core/retention.js';
import type { Heartbeat } from '../../src/domain/loop-health.js';
import { TransientError } from '../../src/errors.js';
import { jobEndPoint } from '../../src/store/jobend.js';
import { int, serverStampedLine } from '../../src/store/lineproto.js';
import { lastPrune, PRUNE, writePruneMarker } from '../../src/store/retention.js';
import { heartbeatPoint } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { serve } from '../../src/web/server.js';
import { storeSource } from '../../src/web/source.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import {
  loggingCommand,
  loopEnv,
  ok,
  statusOf,
  untilSettled,
  writeCampaign,
  type LoopEnv,
} from '../helpers/loop.js';

const RUNS = [393001, 393002, 393003, 393004];
const KEEP = 3;
const DAY = 86_400_000;

/** A line with an explicit timestamp (Unix ms), as a loop of long ago wrote it. */
function lineAt(p: Parameters<typeof serverStampedLine>[0], ms: number): string {
  return `${serverStampedLine(p)} ${BigInt(ms) * 1_000_000n}`;
}

/** A heartbeat of `host`/`slot` ending a pass at `at`. */
function heartbeatAt(host: string, slot: string, at: number, o: Partial<Heartbeat> = {}): string {
  const hb: Omit<Heartbeat, 'time'> = {
    loop: `${host}:4242:n1`,
    slot,
    host,
    pid: 4242,
    version: '0.0.0-test',
    mode: 'daemon',
    started: at - 300 * DAY,
    campaigns: ['ret'],
    skipped: [],
    passStart: at - 1_000,
    passEnd: at,
    outcome: 'ok',
    error: '',
    intervalMs: 3_600_000,
    leaseTtlMs: 3 * 3_600_000,
    inFlight: {},
    ...o,
  };
  return lineAt(heartbeatPoint(hb), at);
}

/** The stored heartbeats' times per loop (host and slot), sorted. */
async function heartbeatTimes(store: Store): Promise<Map<string, number[]>> {
  const by = new Map<string, number[]>();
  for (const r of await store.influx.rows(`SELECT "loop" FROM "loop" GROUP BY "host", "slot"`)) {
    const k = `${String(r.host)}|${String(r.slot)}`;
    by.set(
      k,
      [...(by.get(k) ?? []), Number(r.time)].sort((a, b) => a - b),
    );
  }
  return by;
}

/** Status and job points per (workflow, run) and per job, straight from InfluxDB. */
async function stored(
  store: Store,
  campaign: string,
): Promise<{ status: Map<string, number>; jobs: Set<string> }> {
  const status = new Map<string, number>();
  for (const r of await store.influx.rows(
    `SELECT "run" FROM "run" WHERE "campaign" = $c GROUP BY "workflow"`,
    { c: campaign },
  )) {
    const k = `${String(r.workflow)}/${String(r.run)}`;
    status.set(k, (status.get(k) ?? 0) + 1);
  }
  const jobs = new Set<string>();
  for (const r of await store.influx.rows(`SELECT "job" FROM "job" WHERE "campaign" = $c`, { c: campaign }))
    jobs.add(String(r.job));
  return { status, jobs };
}

/** The state as comparable text: statuses, attempts, outputs and reasons of every pair, and every job. */
function stateText(st: Awaited<ReturnType<Store['campaignState']>>): string {
  const states = [...st.states.values()].map((s) => JSON.stringify(s)).sort();
  const jobs = [...st.jobs.values()].map((j) => JSON.stringify(j)).sort();
  return JSON.stringify({ states, jobs, runs: [...st.registered.keys()].sort() });
}

async function reprocessA(e: LoopEnv, campaign: string): Promise<void> {
  await ok(e, [
    'reprocess',
    '--campaign',
    campaign,
    '--workflow',
    'A',
    '--mode',
    'all',
    '--runs',
    RUNS.join(','),
  ]);
  await untilSettled(e, campaign);
}

describe('retention keeps every read the same', () => {
  const db = freshDb('retention');
  const store = new Store(db);
  let e: LoopEnv;

  async function campaign(name: string): Promise<void> {
    writeCampaign(
      e,
      {
        campaign: name,
        rtypes: { all: { filter: { global: true }, workflows: ['A', 'B'] } },
        workflows: {
          A: { command: loggingCommand('a'), backend: 'local' },
          B: { command: loggingCommand('b'), backend: 'local', depends_on: ['A'] },
        },
      },
      `${name}.json`,
    );
    await ok(e, ['apply', path.join(e.dir, `${name}.json`)]);
    await ok(e, ['inject', '--campaign', name, '--runs', RUNS.join(',')]);
    await untilSettled(e, name);
    for (let i = 0; i < 3; i++) await reprocessA(e, name);
  }

  beforeAll(async () => {
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
    await campaign('ret');
    await campaign('ret_fault');
  }, 240_000);

  it('status --json identical, last N status points and the last attempt kept, why says so; reprocesses fine', async () => {
    const before = await statusOf(e, 'ret');
    const had = await stored(store, 'ret');
    const jobEnds = async (): Promise<number> =>
      (await store.influx.rows(`SELECT "job" FROM "jobend" WHERE "campaign" = 'ret'`)).length;
    // a job-end report, as a job's wrapper writes one under a daemon
    await store.write([jobEndPoint('ret', 'A', `rc.ret.A.r${RUNS[0]}.a4`, 0, RUNS[0] ?? 0)]);
    expect(await jobEnds()).toBe(1);
    expect(Math.max(...had.status.values())).toBeGreaterThan(KEEP); // A's pairs have history to prune
    await new Promise((r) => setTimeout(r, 20));
    const r = await pruneCampaign(store, 'ret', { olderThanMs: 1, keep: KEEP, overlapMs: 0 });
    expect(r.statusPoints).toBeGreaterThan(0);
    expect(r.jobs).toBe(3 * RUNS.length); // attempts 1–3 of A's units; B never ran again

    expect(await statusOf(e, 'ret')).toEqual(before);
    expect(await jobEnds()).toBe(0); // the wake-up hints go too
    const snap = await store.campaignState('ret');
    expect(snap.via).toBe('snapshot');
    const full = await store.fullState('ret');
    expect(stateText({ ...snap, ...full })).toBe(stateText(snap));

    const has = await stored(store, 'ret');
    for (const [k, n] of had.status) expect(has.status.get(k), k).toBe(Math.min(n, KEEP));
    const lastAttempt = new Set([...snap.jobs.values()].map((j) => j.name));
    expect(has.jobs).toEqual(lastAttempt);
    for (const j of snap.jobs.values())
      expect(j.attempt).toBe(snap.states.get(`${j.runs[0] ?? 0}\u0000${j.workflow}`)?.attempt ?? j.attempt);
    expect([...has.jobs].filter((n) => n.startsWith('rc.ret.A.'))).toHaveLength(RUNS.length);

    const marker = await lastPrune(store, 'ret');
    expect(marker).toMatchObject({ cutoff: r.cutoff, keep: KEEP });
    const why = await ok(e, ['why', '--campaign', 'ret', '--run', String(RUNS[0])]);
    expect(why.stdout).toContain(
      `history before ${new Date(r.cutoff).toISOString()} was pruned (each pair keeps its last ${KEEP} status points`,
    );
    const whyJson = JSON.parse(
      (await ok(e, ['why', '-c', 'ret', '--run', String(RUNS[0]), '--json'])).stdout,
    ) as {
      pruned?: unknown;
    };
    expect(whyJson.pruned).toEqual({ before: r.cutoff, keep: KEEP });
    // the run page (serve) says it too, and shows the history that is left
    const d = await serve({ source: storeSource(store), port: 0, jobRoot: e.dir });
    try {
      const page = (await (await fetch(`${d.url}api/run?campaign=ret&run=${RUNS[0]}`)).json()) as {
        pruned?: unknown;
        workflows: { workflow: string; history: unknown[] }[];
      };
      expect(page.pruned).toEqual({ before: r.cutoff, keep: KEEP });
      expect(page.workflows.find((w) => w.workflow === 'A')?.history).toHaveLength(KEEP);
    } finally {
      await d.close();
    }

    // again: nothing left to delete
    const again = await pruneCampaign(store, 'ret', { olderThanMs: 1, keep: KEEP, overlapMs: 0 });
    expect(again).toMatchObject({ statusPoints: 0, jobPoints: 0, jobs: 0, ranges: 0 });

    // the pruned pairs reprocess: a fifth attempt of A, then B, all done, each run once more
    await reprocessA(e, 'ret');
    const after = await statusOf(e, 'ret');
    expect(after.totals.A).toMatchObject({ done: RUNS.length });
    expect(after.totals.B).toMatchObject({ done: RUNS.length });
    const st = await store.campaignState('ret');
    // attempt 4 (kept by the prune) and the new attempt 5 of each run: attempts 1–3 are gone, no name reused
    const attempts = [...st.jobs.values()].filter((j) => j.workflow === 'A').map((j) => j.attempt);
    expect(attempts.sort()).toEqual([...RUNS.map(() => 4), ...RUNS.map(() => 5)]);
  }, 120_000);

  it('a prune cut short (after its snapshot, or between DELETE requests) loses nothing; the next finishes it', async () => {
    const before = await statusOf(e, 'ret_fault');
    const stateBefore = stateText(await store.campaignState('ret_fault'));
    await new Promise((r) => setTimeout(r, 20));
    const o = { olderThanMs: 1, keep: KEEP, overlapMs: 0, deletesPerRequest: 1 };
    const query = store.influx.query.bind(store.influx);
    for (const failAt of [1, 2]) {
      let deletes = 0;
      const spy = vi.spyOn(store.influx, 'query').mockImplementation(async (q, params, opts) => {
        if (q.startsWith('DELETE FROM "run"') || q.startsWith('DELETE FROM "job"')) {
          if (++deletes === failAt) throw new TransientError('InfluxDB went away (injected)');
        }
        return query(q, params, opts);
      });
      await expect(pruneCampaign(store, 'ret_fault', o)).rejects.toThrow(/injected/);
      spy.mockRestore();
      expect(await statusOf(e, 'ret_fault')).toEqual(before);
      const snap = await store.campaignState('ret_fault');
      const full = await store.fullState('ret_fault');
      // the full read may still find jobs the snapshot dropped (not deleted yet): never fewer pairs or other states
      expect(
        JSON.stringify(
          [...full.states.values()].sort((a, b) => a.run - b.run || a.workflow.localeCompare(b.workflow)),
        ),
      ).toBe(
        JSON.stringify(
          [...snap.states.values()].sort((a, b) => a.run - b.run || a.workflow.localeCompare(b.workflow)),
        ),
      );
    }
    const done = await pruneCampaign(store, 'ret_fault', o);
    expect(done.requests).toBeGreaterThan(0);
    const snap = await store.campaignState('ret_fault');
    expect(stateText({ ...snap, ...(await store.fullState('ret_fault')) })).toBe(stateText(snap));
    expect(JSON.parse(stateText(snap)).states).toEqual(JSON.parse(stateBefore).states);
    const has = await stored(store, 'ret_fault');
    expect(Math.max(...has.status.values())).toBe(KEEP);
    expect(has.jobs).toEqual(new Set([...snap.jobs.values()].map((j) => j.name)));
  }, 120_000);

  it('heartbeats of a simulated year go but the newest of each loop; loops --json the same; cut short, the next finishes', async () => {
    const now = Date.now();
    // a loop per host and slot, one heartbeat a day (half past midnight: none near the 30-day cutoff)
    const series: { host: string; slot: string; newest: number; o?: Partial<Heartbeat> }[] = [
      { host: 'daq-1', slot: 'daemon/*', newest: now - 60_000 }, // live
      { host: 'daq 2,"b"', slot: 'daemon/ret', newest: now - 10.5 * DAY }, // stale, escaped names
      { host: 'daq-1', slot: 'once/ret', newest: now - 200.5 * DAY, o: { mode: 'once', outcome: 'stopped' } },
    ];
    const written = new Map<string, number[]>();
    const lines: string[] = [];
    for (const l of series) {
      const times: number[] = [];
      for (let t = l.newest; t > now - 365 * DAY; t -= DAY) times.push(t);
      for (const t of times) lines.push(heartbeatAt(l.host, l.slot, t, l.o));
      written.set(
        `${l.host}|${l.slot}`,
        times.sort((a, b) => a - b),
      );
    }
    const real = await heartbeatTimes(store); // the loops of beforeAll: recent, all kept
    expect(real.size).toBeGreaterThan(0);
    await store.influx.write(lines);
    // old prune markers of a campaign (the newest one, a recent prune's, stays)
    const markers = async (): Promise<number> =>
      (await store.influx.rows(`SELECT "cutoff" FROM ${JSON.stringify(PRUNE)} WHERE "campaign" = 'ret'`))
        .length;
    await writePruneMarker(store, 'ret', { cutoff: now - 30 * DAY, keep: KEEP });
    const markersBefore = await markers();
    const markerBefore = await lastPrune(store, 'ret');
    await store.influx.write(
      [100, 50].map((d) =>
        lineAt(
          {
            measurement: PRUNE,
            tags: { campaign: 'ret' },
            fields: { cutoff: int(now - (d + 90) * DAY), keep: int(5) },
            key: 0,
          },
          now - d * DAY,
        ),
      ),
    );
    const loopsJson = async (since: string): Promise<unknown> => {
      const r = JSON.parse((await ok(e, ['loops', '--json', '--since', since])).stdout) as {
        loops: Record<string, unknown>[];
      };
      for (const l of r.loops) delete l.sinceLastPassMs; // relative: changes with every read
      return r;
    };
    const loopsBefore = [await loopsJson('400d'), await loopsJson('7d')];
    expect(JSON.stringify(loopsBefore[0])).toContain('daq 2,\\"b\\"');

    // cut short between two DELETE requests: every loop keeps its newest heartbeat, loops answers the same
    const query = store.influx.query.bind(store.influx);
    let deletes = 0;
    const spy = vi.spyOn(store.influx, 'query').mockImplementation(async (q, params, opts) => {
      if (q.startsWith('DELETE FROM "loop"') && ++deletes === 2)
        throw new TransientError('InfluxDB went away (injected)');
      return query(q, params, opts);
    });
    const o = { olderThanMs: 30 * DAY, keep: KEEP, deletesPerRequest: 1 };
    await expect(pruneLoopHeartbeats(store, o)).rejects.toThrow(/injected/);
    spy.mockRestore();
    const half = await heartbeatTimes(store);
    for (const [k, times] of written) expect(half.get(k)?.at(-1), k).toBe(times.at(-1));
    expect([await loopsJson('400d'), await loopsJson('7d')]).toEqual(loopsBefore);

    // the CLI's prune finishes it: the newest of each loop and those newer than the cutoff remain
    const r = await ok(e, ['compact', '--prune-older-than', '30d', '--json']);
    expect(r.stderr).toMatch(
      /retention: loop heartbeats: \d+ point\(s\) of [12] loop\(s\) older than .* deleted/,
    );
    const has = await heartbeatTimes(store);
    for (const [k, times] of written) {
      const keep = times.filter((t) => t >= now - 30 * DAY);
      expect(has.get(k), k).toEqual(keep.length > 0 ? keep : times.slice(-1));
    }
    for (const [k, times] of real) expect(has.get(k), k).toEqual(times);
    expect([await loopsJson('400d'), await loopsJson('7d')]).toEqual(loopsBefore);
    expect(await markers()).toBe(markersBefore);
    expect(await lastPrune(store, 'ret')).toEqual(markerBefore);

    // again: nothing left to delete
    expect(await pruneLoopHeartbeats(store, { olderThanMs: 30 * DAY, keep: KEEP })).toMatchObject({
      loops: 0,
      points: 0,
      requests: 0,
    });
  }, 120_000);
});
