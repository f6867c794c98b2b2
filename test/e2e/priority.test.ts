/**
 * Campaign priorities under an in-flight limit, end to end on the local backend: `automation --until-done
 * --max-in-flight 2` over two campaigns. The local executor's tokens (in the native ids) order the submissions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';

interface JobJson {
  campaign: string;
  name: string;
  nativeId: string;
  status: string;
}

const RUNS = [397001, 397002, 397003, 397004];

function campaignSpec(name: string, priority?: number): object {
  return {
    campaign: name,
    ...(priority !== undefined ? { priority } : {}),
    rtypes: { all: { filter: { global: true }, workflows: ['work'] } },
    workflows: { work: { command: 'sleep 0.2' } },
  };
}

/** Applies and injects the campaigns, runs the loop to the end, and returns the campaign of every job in submission order. */
async function submissionOrder(e: LoopEnv, campaigns: [string, number | undefined][]): Promise<string[]> {
  for (const [name, priority] of campaigns) {
    await ok(e, ['apply', writeCampaign(e, campaignSpec(name, priority), `${name}.json`)]);
    await ok(e, ['inject', '--campaign', name, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
  }
  const names = campaigns.flatMap(([n]) => ['--campaign', n]);
  const r = await cli(e, [
    'automation',
    '--until-done',
    '--max-in-flight',
    '2',
    '--interval',
    '60s',
    ...names,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const jobs: JobJson[] = [];
  for (const [name] of campaigns) {
    const st = await statusOf(e, name);
    expect(st.totals.work).toMatchObject({ done: RUNS.length });
    jobs.push(...(JSON.parse((await ok(e, ['jobs', '--campaign', name, '--json'])).stdout) as JobJson[]));
  }
  expect(jobs).toHaveLength(campaigns.length * RUNS.length);
  const token = (j: JobJson): string => j.nativeId.split(':').pop() ?? '';
  return jobs.sort((a, b) => (token(a) < token(b) ? -1 : 1)).map((j) => j.campaign);
}

describe('priorities with --max-in-flight', () => {
  const db = freshDb('prio');
  let e: LoopEnv;

  beforeAll(() => {
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
  });

  it('every unit of the higher-priority campaign is submitted before any of the other', async () => {
    // the low one's name sorts first: the order is not the names'
    const order = await submissionOrder(e, [
      ['a_low', undefined],
      ['z_high', 5],
    ]);
    expect(order).toEqual([...RUNS.map(() => 'z_high'), ...RUNS.map(() => 'a_low')]);
    const list = JSON.parse((await ok(e, ['list', '--json'])).stdout) as {
      campaign: string;
      priority: number;
    }[];
    expect(list.map((c) => [c.campaign, c.priority])).toEqual([
      ['a_low', 0],
      ['z_high', 5],
    ]);
  }, 90_000);

  it('campaigns of equal priority alternate', async () => {
    const order = await submissionOrder(e, [
      ['eq_b', 3],
      ['eq_a', 3],
    ]);
    expect(order).toEqual(RUNS.flatMap(() => ['eq_a', 'eq_b']));
  }, 90_000);
});
