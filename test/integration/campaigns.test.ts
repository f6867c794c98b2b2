/** Campaigns, run types, deactivate/reactivate and apply against the real influxd (one database for this file). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { apply } from '../../src/core/apply.js';
import { createCampaign, deactivate, listCampaigns, reactivate } from '../../src/core/campaigns.js';
import { rtypeCreate, rtypeList, rtypeUpdate } from '../../src/core/rtypes.js';
import { UserError } from '../../src/errors.js';
import { freshDb } from '../helpers/influx.js';
import { ROOT, snapshot, testCtx } from '../helpers/ctx.js';

const client = freshDb('camp');
const ctx = testCtx(client);

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(re);
}

describe('create', () => {
  it('creates the database and a campaign with the default run type "all" (global runs only)', async () => {
    expect(await client.databaseExists()).toBe(false);
    const r = await createCampaign(ctx, { campaign: 'test_rereco', description: 'first try' });
    expect(r).toEqual({ campaign: 'test_rereco', created: true, rtypes: ['all'] });
    const [c] = await ctx.store.campaigns('test_rereco');
    expect(c).toMatchObject({
      name: 'test_rereco',
      description: 'first try',
      rtypes: [{ name: 'all', filter: { global: true }, workflows: [], suspended: [] }],
    });
  });

  it('refuses an existing campaign unless --if-not-exists, writing nothing', async () => {
    const before = await snapshot(client);
    await refused(
      createCampaign(ctx, { campaign: 'test_rereco' }),
      /campaign 'test_rereco' already exists in database '.*': choose another name, or add --if-not-exists/,
    );
    expect(await createCampaign(ctx, { campaign: 'test_rereco', ifNotExists: true })).toEqual({
      campaign: 'test_rereco',
      created: false,
      rtypes: ['all'],
    });
    expect(await snapshot(client)).toBe(before);
  });

  it('refuses a name outside the character set', async () => {
    await refused(createCampaign(ctx, { campaign: 'bad name!' }), /invalid campaign name 'bad name!'/);
    await refused(createCampaign(ctx, { campaign: '-x' }), /invalid campaign name/);
  });
});

describe('run types', () => {
  it('adds workflows space- or comma-separated and lists them in order', async () => {
    const r = await rtypeUpdate(ctx, {
      campaign: 'test_rereco',
      rtype: 'all',
      add: ['workflow1', 'workflow2', 'workflow3'],
      remove: [],
    });
    expect(r.added).toEqual(['workflow1', 'workflow2', 'workflow3']);
    expect(r.workflows).toEqual(['workflow1', 'workflow2', 'workflow3']);
    const again = await rtypeUpdate(ctx, {
      campaign: 'test_rereco',
      rtype: 'all',
      add: ['workflow2'],
      remove: [],
    });
    expect(again.added).toEqual([]);
    expect(again.workflows).toEqual(['workflow1', 'workflow2', 'workflow3']);
  });

  it('creates a run type with a filter and lists both', async () => {
    const r = await rtypeCreate(ctx, {
      campaign: 'test_rereco',
      rtype: 'stable_beams',
      filter: { global: true, stableBeams: true, minDuration: 600, quality: ['ecal'] },
      workflows: ['pi0-mon', 'pi0-mon'],
    });
    expect(r.workflows).toEqual(['pi0-mon']);
    const list = await rtypeList(ctx, { campaign: 'test_rereco' });
    expect(list.map((t) => [t.rtype, t.filterText, t.workflows])).toEqual([
      ['all', 'global', ['workflow1', 'workflow2', 'workflow3']],
      ['stable_beams', 'global, stable beams, ≥600s, good ecal', ['pi0-mon']],
    ]);
  });

  it('changes a filter without touching the workflows', async () => {
    const r = await rtypeUpdate(ctx, {
      campaign: 'test_rereco',
      rtype: 'stable_beams',
      add: [],
      remove: [],
      filter: { global: true, stableBeams: true, minDuration: 900 },
    });
    expect(r.filterText).toBe('global, stable beams, ≥900s');
    expect(r.workflows).toEqual(['pi0-mon']);
  });

  it('refuses bad run-type edits without writing', async () => {
    const before = await snapshot(client);
    await refused(
      rtypeCreate(ctx, { campaign: 'test_rereco', rtype: 'all', filter: {} }),
      /run type 'all' already exists in campaign 'test_rereco'/,
    );
    await refused(
      rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'nope', add: ['x'], remove: [] }),
      /unknown run type 'nope' in campaign 'test_rereco' \(known: all, stable_beams\): create it with 'rtype-create/,
    );
    await refused(
      rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'all', add: [], remove: ['ghost'] }),
      /workflow\(s\) ghost not in run type 'all'/,
    );
    await refused(
      rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'all', add: ['bad/name'], remove: [] }),
      /invalid workflow name 'bad\/name'/,
    );
    await refused(
      rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'all', add: [], remove: [] }),
      /nothing to change/,
    );
    await refused(
      rtypeList(ctx, { campaign: 'nope' }),
      /unknown campaign 'nope' in database .* \(known: test_rereco\)/,
    );
    expect(await snapshot(client)).toBe(before);
  });
});

describe('deactivate and reactivate', () => {
  it('removes every active workflow in one step, shows it in list, and restores exactly that set', async () => {
    // a workflow removed earlier must not come back with reactivate
    await rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'all', add: ['old-task'], remove: [] });
    await rtypeUpdate(ctx, { campaign: 'test_rereco', rtype: 'all', add: [], remove: ['old-task'] });
    const before = await rtypeList(ctx, { campaign: 'test_rereco' });

    const d = await deactivate(ctx, { campaign: 'test_rereco' });
    expect(d.changed).toBe(true);
    expect(d.activity).toBe('deactivated');
    const listed = (await listCampaigns(ctx)).find((c) => c.campaign === 'test_rereco');
    expect(listed?.activity).toBe('deactivated');
    expect(listed?.workflows).toEqual([]);
    const mid = await rtypeList(ctx, { campaign: 'test_rereco' });
    expect(mid.every((t) => t.workflows.length === 0)).toBe(true);
    expect(mid.map((t) => t.suspended)).toEqual(before.map((t) => t.workflows));

    const again = await deactivate(ctx, { campaign: 'test_rereco' });
    expect(again.changed).toBe(false);

    const r = await reactivate(ctx, { campaign: 'test_rereco' });
    expect(r.changed).toBe(true);
    expect(r.activity).toBe('active');
    const after = await rtypeList(ctx, { campaign: 'test_rereco' });
    expect(after.map((t) => [t.rtype, t.workflows, t.suspended])).toEqual(
      before.map((t) => [t.rtype, t.workflows, []]),
    );
    expect((await listCampaigns(ctx)).find((c) => c.campaign === 'test_rereco')?.activity).toBe('active');
  });

  it('the ECAL manual procedure (rtype-update --remove on every run type) deactivates too, restorably', async () => {
    await createCampaign(ctx, { campaign: 'manual' });
    await rtypeCreate(ctx, { campaign: 'manual', rtype: 'stable_beams', filter: { stableBeams: true } });
    await rtypeUpdate(ctx, {
      campaign: 'manual',
      rtype: 'all',
      add: ['task1', 'task2', 'task3'],
      remove: [],
    });
    await rtypeUpdate(ctx, {
      campaign: 'manual',
      rtype: 'stable_beams',
      add: ['task4', 'task5'],
      remove: [],
    });
    // removing one of several active workflows just removes it
    await rtypeUpdate(ctx, { campaign: 'manual', rtype: 'all', add: ['task0'], remove: [] });
    const cut = await rtypeUpdate(ctx, { campaign: 'manual', rtype: 'all', add: [], remove: ['task0'] });
    expect([cut.workflows, cut.suspended]).toEqual([['task1', 'task2', 'task3'], []]);

    await rtypeUpdate(ctx, {
      campaign: 'manual',
      rtype: 'all',
      add: [],
      remove: ['task1', 'task2', 'task3'],
    });
    expect((await listCampaigns(ctx)).find((x) => x.campaign === 'manual')?.activity).toBe('active');
    await rtypeUpdate(ctx, {
      campaign: 'manual',
      rtype: 'stable_beams',
      add: [],
      remove: ['task4', 'task5'],
    });
    const c = (await listCampaigns(ctx)).find((x) => x.campaign === 'manual');
    expect(c?.workflows).toEqual([]);
    expect(c?.activity).toBe('deactivated');

    const r = await reactivate(ctx, { campaign: 'manual' });
    expect(r.rtypes).toEqual([
      { name: 'all', workflows: ['task1', 'task2', 'task3'], suspended: [] },
      { name: 'stable_beams', workflows: ['task4', 'task5'], suspended: [] },
    ]);
  });

  it('deactivate sets aside exactly the active set, whatever was set aside before', async () => {
    await createCampaign(ctx, { campaign: 'exact' });
    await rtypeCreate(ctx, { campaign: 'exact', rtype: 'cosmics', filter: {}, workflows: ['cosmic-mon'] });
    await rtypeUpdate(ctx, { campaign: 'exact', rtype: 'all', add: ['reco'], remove: [] });
    // cosmics emptied by hand while "all" stays active: cosmic-mon is set aside …
    await rtypeUpdate(ctx, { campaign: 'exact', rtype: 'cosmics', add: [], remove: ['cosmic-mon'] });
    // … but it was not active when the campaign was deactivated, so reactivate must not bring it back
    await deactivate(ctx, { campaign: 'exact' });
    const r = await reactivate(ctx, { campaign: 'exact' });
    expect(r.rtypes).toEqual([
      { name: 'all', workflows: ['reco'], suspended: [] },
      { name: 'cosmics', workflows: [], suspended: [] },
    ]);
  });

  it('refuses to reactivate a campaign with nothing set aside', async () => {
    await createCampaign(ctx, { campaign: 'empty' });
    await refused(
      reactivate(ctx, { campaign: 'empty' }),
      /has no deactivated workflows to restore: add workflows with/,
    );
  });
});

describe('apply', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-apply-'));
  const file = path.join(dir, 'camp.json');
  const spec = {
    campaign: 'declared',
    description: 'from a file',
    rtypes: {
      all: { filter: { global: true }, workflows: ['reco', 'timing'] },
      stable_beams: { filter: { global: true, stableBeams: true }, workflows: ['reco', 'pi0'] },
    },
    workflows: {
      reco: { command: 'echo {run} > {outdir}/r.txt' },
      timing: { command: 'echo t {run}', depends_on: ['reco'] },
      pi0: { command: 'echo p {run} {inputs}', depends_on: ['reco'], max_retries: 4 },
    },
  };
  const write = (o: unknown): void => writeFileSync(file, JSON.stringify(o));

  beforeAll(() => write(spec));

  it('--dry-run prints the diff and writes nothing', async () => {
    const before = await snapshot(client);
    const r = await apply(ctx, { file, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'create-campaign declared',
      'add-rtype all',
      'add-rtype stable_beams',
      'add-workflow reco',
      'add-workflow timing',
      'add-workflow pi0',
    ]);
    expect(await snapshot(client)).toBe(before);
  });

  it('creates the campaign, then is idempotent', async () => {
    expect((await apply(ctx, { file })).changes).toHaveLength(6);
    const [c] = await ctx.store.campaigns('declared');
    expect(c?.description).toBe('from a file');
    expect(c?.rtypes.map((t) => [t.name, t.workflows])).toEqual([
      ['all', ['reco', 'timing']],
      ['stable_beams', ['reco', 'pi0']],
    ]);
    expect(c?.workflows.find((w) => w.name === 'pi0')).toMatchObject({ maxRetries: 4, dependsOn: ['reco'] });
    const before = await snapshot(client);
    expect((await apply(ctx, { file })).changes).toEqual([]);
    expect(await snapshot(client)).toBe(before);
  });

  it('updates what changed and removes what the file no longer has', async () => {
    const next = JSON.parse(JSON.stringify(spec)) as {
      description: string;
      rtypes: Record<string, { filter: object; workflows: string[] }>;
      workflows: Record<string, { command: string; max_retries?: number }>;
    };
    next.description = 'v2';
    delete next.rtypes.stable_beams;
    next.rtypes.all = { filter: { global: true, minDuration: 60 }, workflows: ['reco'] };
    delete next.workflows.pi0;
    delete next.workflows.timing;
    next.workflows.reco = { command: 'echo v2 {run}', max_retries: 1 };
    write(next);
    const r = await apply(ctx, { file });
    expect(r.changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'description declared',
      'update-rtype all',
      'remove-rtype stable_beams',
      'update-workflow reco',
      'remove-workflow pi0',
      'remove-workflow timing',
    ]);
    const [c] = await ctx.store.campaigns('declared');
    expect(c?.rtypes).toEqual([
      { name: 'all', filter: { global: true, minDuration: 60 }, workflows: ['reco'], suspended: [] },
    ]);
    expect(c?.workflows.map((w) => [w.name, w.command, w.maxRetries])).toEqual([
      ['reco', 'echo v2 {run}', 1],
    ]);
    expect((await apply(ctx, { file })).changes).toEqual([]);
  });

  it('applies the shipped sample campaign', async () => {
    const sample = path.join(ROOT, 'campaigns', 'rereco_2024.json');
    expect((await apply(ctx, { file: sample })).changes.length).toBeGreaterThan(0);
    expect((await apply(ctx, { file: sample })).changes).toEqual([]);
  });

  it('refuses a missing or unparsable file and an invalid spec without writing', async () => {
    const before = await snapshot(client);
    await refused(
      apply(ctx, { file: path.join(dir, 'nope.json') }),
      /cannot read campaign file .*nope\.json' \(ENOENT\)/,
    );
    writeFileSync(path.join(dir, 'broken.json'), '{"campaign": "x",');
    await refused(
      apply(ctx, { file: path.join(dir, 'broken.json') }),
      /broken\.json' is not valid JSON .*: fix the syntax/,
    );
    writeFileSync(
      path.join(dir, 'cycle.json'),
      JSON.stringify({
        ...spec,
        workflows: { ...spec.workflows, reco: { command: 'echo', depends_on: ['pi0'] } },
      }),
    );
    await refused(
      apply(ctx, { file: path.join(dir, 'cycle.json') }),
      /dependency cycle (reco -> pi0 -> reco|pi0 -> reco -> pi0)/,
    );
    expect(await snapshot(client)).toBe(before);
  });
});
