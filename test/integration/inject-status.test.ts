/** inject and status against the real influxd (one database for this file), with a small run registry. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCampaign } from '../../src/core/campaigns.js';
import { inject } from '../../src/core/inject.js';
import { rtypeCreate, rtypeUpdate } from '../../src/core/rtypes.js';
import { status } from '../../src/core/status.js';
import type { RunStatus } from '../../src/domain/status.js';
import { UserError } from '../../src/errors.js';
import { runStatePoint } from '../../src/store/schema.js';
import { smallRegistry } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { snapshot, testCtx } from '../helpers/ctx.js';

const client = freshDb('inj');
const reg = smallRegistry();
const ctx = testCtx(client, reg.file);
const C = 'rereco';

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(re);
}

/** Status of every run × workflow as `run/workflow:status`, sorted. */
async function cells(sel = {}): Promise<string[]> {
  const r = await status(ctx, { campaign: C, selector: sel });
  return r.rows.flatMap((row) =>
    Object.entries(row.status)
      .filter(([, s]) => s !== null)
      .map(([w, s]) => `${row.run}/${w}:${s}`),
  );
}

/** What the automation loop would write: a new status for some pairs. */
async function setStatus(pairs: [number, string, RunStatus, number?][]): Promise<void> {
  await ctx.store.write(
    pairs.map(([run, workflow, s, attempt]) =>
      runStatePoint(C, { run, workflow, status: s, attempt: attempt ?? 1 }),
    ),
  );
}

beforeAll(async () => {
  await createCampaign(ctx, { campaign: C });
  await rtypeUpdate(ctx, { campaign: C, rtype: 'all', add: ['reco', 'timing'], remove: [] });
  await rtypeCreate(ctx, {
    campaign: C,
    rtype: 'stable_beams',
    filter: { global: true, stableBeams: true, minDuration: 600 },
    workflows: ['reco', 'pi0'],
  });
});

describe('inject', () => {
  it('--runs: every matching run type’s active workflows get status new', async () => {
    const r = await inject(ctx, { campaign: C, selector: { runs: [380001, 380002] }, mode: 'missing' });
    expect(r).toMatchObject({
      runs: 2,
      registered: 2,
      changes: 5,
      set: { reco: { new: 2 }, timing: { new: 2 }, pi0: { new: 1 } },
      unmatched: [],
      dryRun: false,
    });
    expect(await cells()).toEqual([
      '380001/reco:new',
      '380001/timing:new',
      '380002/pi0:new',
      '380002/reco:new',
      '380002/timing:new',
    ]);
  });

  it('--dry-run reports what would be written and writes nothing', async () => {
    const before = await snapshot(client);
    const r = await inject(ctx, {
      campaign: C,
      selector: { range: { min: 380001, max: 380010 } },
      mode: 'missing',
      dryRun: true,
    });
    // odd runs (no beam): reco+timing; even runs: +pi0, except 380010 which is too short for stable_beams
    expect(r).toMatchObject({
      dryRun: true,
      runs: 10,
      registered: 8,
      changes: 19,
      kept: { 'already new': 5 },
    });
    expect(await snapshot(client)).toBe(before);
  });

  it('--range (inclusive) injects only the missing pairs', async () => {
    const r = await inject(ctx, {
      campaign: C,
      selector: { range: { min: 380001, max: 380010 } },
      mode: 'missing',
    });
    expect([r.changes, r.kept]).toEqual([19, { 'already new': 5 }]);
    const again = await inject(ctx, {
      campaign: C,
      selector: { range: { min: 380001, max: 380010 } },
      mode: 'missing',
    });
    expect([again.changes, again.registered]).toEqual([0, 0]);
    expect(await cells({ range: { min: 380009, max: 380010 } })).toEqual([
      '380009/reco:new',
      '380009/timing:new',
      '380010/reco:new',
      '380010/timing:new',
    ]);
  });

  it('--era resolves through the run source and reports runs no run type takes', async () => {
    const r = await inject(ctx, { campaign: C, selector: { era: 'Run2024D' }, mode: 'missing' });
    expect(r).toMatchObject({ runs: 5, changes: 12, unmatched: [381003] });
    const st = await status(ctx, { campaign: C, selector: { era: 'Run2024D' } });
    expect(st.rows.map((x) => x.run)).toEqual([381001, 381002, 381003, 381004, 381005]);
    expect(st.rows.find((x) => x.run === 381003)?.status).toEqual({ pi0: null, reco: null, timing: null });
  });

  it('--runlist reads a file with comments', async () => {
    const file = path.join(path.dirname(reg.file), 'golden.txt');
    writeFileSync(file, '# golden runs\n382001  # Run2024E\n\n380001\n');
    const r = await inject(ctx, { campaign: C, selector: { runlist: file }, mode: 'missing' });
    expect(r).toMatchObject({ runs: 2, registered: 1, changes: 3 });
  });

  it('modes: missing keeps progress, failed redoes failures, all redoes everything not in flight', async () => {
    await setStatus([
      [380002, 'reco', 'done', 1],
      [380002, 'pi0', 'failed', 3],
      [380004, 'reco', 'processing'],
      [380004, 'timing', 'done'],
    ]);
    const sel = { runs: [380002, 380004] };
    const missing = await inject(ctx, { campaign: C, selector: sel, mode: 'missing' });
    expect(missing.changes).toBe(0);
    expect(missing.kept).toEqual({
      'already done': 2,
      'already failed': 1,
      'already processing': 1,
      'already new': 2,
    });

    const dry = await inject(ctx, { campaign: C, selector: sel, mode: 'all', dryRun: true });
    expect(dry.set).toEqual({ reco: { reprocess: 1 }, pi0: { reprocess: 1 }, timing: { reprocess: 1 } });

    const failed = await inject(ctx, { campaign: C, selector: sel, mode: 'failed' });
    expect(failed.set).toEqual({ pi0: { reprocess: 1 } });
    const st = await ctx.store.runStates(C, { runs: [380002] });
    expect([...st.values()].find((s) => s.workflow === 'pi0')).toMatchObject({
      status: 'reprocess',
      attempt: 3,
      tries: 0,
    });

    const all = await inject(ctx, { campaign: C, selector: sel, mode: 'all' });
    expect(all.set).toEqual({ reco: { reprocess: 1 }, timing: { reprocess: 1 } });
    expect(all.kept).toEqual({ 'already reprocess': 1, 'processing (jobs in flight)': 1, 'already new': 2 });
    expect(await cells({ runs: [380002, 380004] })).toEqual([
      '380002/pi0:reprocess',
      '380002/reco:reprocess',
      '380002/timing:new',
      '380004/pi0:new',
      '380004/reco:processing',
      '380004/timing:reprocess',
    ]);
  });

  it('a run type added later: re-injecting registers the run again and adds its workflows', async () => {
    await rtypeCreate(ctx, {
      campaign: C,
      rtype: 'cosmics',
      filter: { runClass: ['Cosmics24'] },
      workflows: ['cosmic-mon'],
    });
    const r = await inject(ctx, { campaign: C, selector: { runs: [380001, 380002] }, mode: 'missing' });
    expect(r).toMatchObject({ registered: 1, changes: 1, set: { 'cosmic-mon': { new: 1 } } });
    const reg2 = await ctx.store.registeredRuns(C, { runs: [380001] });
    expect(reg2.get(380001)?.rtypes).toEqual(['all', 'cosmics']);
  });

  it('refuses bad selections before writing anything', async () => {
    const before = await snapshot(client);
    await refused(
      inject(ctx, { campaign: 'nope', selector: { runs: [380001] }, mode: 'missing' }),
      /unknown campaign 'nope'/,
    );
    await refused(
      inject(ctx, { campaign: 'bad name!', selector: { runs: [380001] }, mode: 'missing' }),
      /invalid campaign name/,
    );
    await refused(
      inject(ctx, { campaign: C, selector: { runs: [380001, 999999, 1] }, mode: 'missing' }),
      /2 run\(s\) not found in the run source .*: 1, 999999: check the run numbers/,
    );
    await refused(
      inject(ctx, { campaign: C, selector: { era: 'Run2099Z' }, mode: 'missing' }),
      /unknown era 'Run2099Z' .*known eras: Run2024C, Run2024D, Run2024E/,
    );
    await refused(
      inject(ctx, { campaign: C, selector: { range: { min: 100, max: 200 } }, mode: 'missing' }),
      /no runs between 100 and 200/,
    );
    await refused(
      inject(ctx, { campaign: C, selector: { runlist: '/nonexistent/list.txt' }, mode: 'missing' }),
      /cannot read run-list file '\/nonexistent\/list\.txt' \(ENOENT\)/,
    );
    await refused(
      inject(ctx, { campaign: C, selector: { runs: [380001], era: 'Run2024C' }, mode: 'missing' }),
      /give only one of --runs, --range, --era, --runlist/,
    );
    expect(await snapshot(client)).toBe(before);
  });
});

describe('status', () => {
  it('counts per workflow and status, with every registered run as a row', async () => {
    const r = await status(ctx, { campaign: C });
    expect(r.workflows).toEqual(['cosmic-mon', 'pi0', 'reco', 'timing']);
    expect(r.rows).toHaveLength(10 + 5 + 1);
    expect(r.totals.reco).toEqual({ new: 13, processing: 1, done: 0, failed: 0, reprocess: 1, blocked: 0 });
    expect(r.totals.pi0).toEqual({ new: 8, processing: 0, done: 0, failed: 0, reprocess: 1, blocked: 0 });
    const row = r.rows.find((x) => x.run === 380002);
    expect(row).toMatchObject({ era: 'Run2024C', fill: 47000, rtypes: ['all', 'stable_beams'] });
  });

  it('filters by workflow, runs, range, era and run list', async () => {
    const w = await status(ctx, {
      campaign: C,
      workflow: 'pi0',
      selector: { range: { min: 380001, max: 380004 } },
    });
    expect(w.workflows).toEqual(['pi0']);
    expect(w.rows.map((x) => [x.run, x.status.pi0])).toEqual([
      [380001, null],
      [380002, 'reprocess'],
      [380003, null],
      [380004, 'new'],
    ]);
    expect(
      (await status(ctx, { campaign: C, selector: { runs: [382001, 381002] } })).rows.map((x) => x.run),
    ).toEqual([381002, 382001]);
    expect(
      (await status(ctx, { campaign: C, selector: { era: 'Run2024E' } })).rows.map((x) => x.run),
    ).toEqual([382001]);
    const file = path.join(path.dirname(reg.file), 'two.txt');
    writeFileSync(file, '380005\n# 380006\n380007\n');
    expect((await status(ctx, { campaign: C, selector: { runlist: file } })).rows.map((x) => x.run)).toEqual([
      380005, 380007,
    ]);
  });

  it('an era without injected runs is empty; an unknown era or workflow is an error', async () => {
    await createCampaign(ctx, { campaign: 'other' });
    expect((await status(ctx, { campaign: 'other', selector: { era: 'Run2024C' } })).rows).toEqual([]);
    await refused(
      status(ctx, { campaign: C, selector: { era: 'Run2099Z' } }),
      /unknown era 'Run2099Z'.*known eras: Run2024C/,
    );
    await refused(
      status(ctx, { campaign: C, workflow: 'nope' }),
      /unknown workflow 'nope' in campaign 'rereco' \(known: cosmic-mon, pi0, reco, timing\)/,
    );
  });
});
