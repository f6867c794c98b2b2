/**
 * Retention on a real InfluxDB, after a real campaign on the local backend processed four runs and reprocessed
 * workflow A three times: pruning keeps every read the same (`status --json`, the full read equal to the snapshot
 * read), leaves each pair its last N status points and only the jobs of its last attempt, says so in `why`, and
 * the pruned pairs reprocess fine. A prune cut short after its snapshot, or between two DELETE requests, loses
 * nothing and the next one finishes it.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { pruneCampaign } from '../../src/core/retention.js';
import { TransientError } from '../../src/errors.js';
import { jobEndPoint } from '../../src/store/jobend.js';
import { lastPrune } from '../../src/store/retention.js';
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
});
