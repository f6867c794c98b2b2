/**
 * End to end: `node bin/runctrl.js` (the built dist/) spawned like an operator would, against the real
 * influxd, including the exact ECAL command lines of the reprocessing documentation.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDb, influxUrl } from '../helpers/influx.js';
import { ROOT, testCtx } from '../helpers/ctx.js';
import { CAMPAIGN, FAILED_RUN, writeSample } from '../helpers/sample.js';
import { expectCleanError, runCli, spawnCli, type CliResult } from '../helpers/cli.js';

const client = freshDb('e2e');
const db = client.db;
// a directory without .env, so the operator's own settings cannot leak in
const cwd = mkdtempSync(path.join(os.tmpdir(), 'runctrl-e2e-'));
const env = (): NodeJS.ProcessEnv => ({ RUNCTRL_INFLUXDB_URL: influxUrl() });
const rc = (...args: string[]): Promise<CliResult> => spawnCli(args, { env: env(), cwd });

function ok(r: CliResult): string {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

function parsed<T>(r: CliResult): T {
  return JSON.parse(ok(r)) as T;
}

describe('the ECAL reprocessing procedure, command line by command line', () => {
  beforeAll(async () => {
    ok(await rc('--db', db, 'create', '--campaign', 'test_rereco', '--description', 'ECAL rereco test'));
  });

  it('adds three workflows space-separated: --add workflow1 workflow2 workflow3 --type=all', async () => {
    const out = ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'test_rereco',
        '--add',
        'workflow1',
        'workflow2',
        'workflow3',
        '--type=all',
      ),
    );
    expect(out).toMatch(/run type 'all' of campaign 'test_rereco': added workflow1 workflow2 workflow3/);
    const list = parsed<{ rtype: string; workflows: string[] }[]>(
      await rc('--db', db, 'rtype-list', '--campaign', 'test_rereco', '--json'),
    );
    expect(list.map((t) => [t.rtype, t.workflows])).toEqual([
      ['all', ['workflow1', 'workflow2', 'workflow3']],
    ]);
  });

  it('injects with --runs, --range and --era, and the status shows them', async () => {
    expect(ok(await rc('--db', db, 'inject', '-c', 'test_rereco', '--runs', '378008,378009'))).toMatch(
      /2 run\(s\) resolved, 2 registered, 6 status change\(s\) \(mode missing\)/,
    );
    const range = parsed<{ runs: number; changes: number }>(
      await rc('--db', db, 'inject', '--campaign', 'test_rereco', '--range', '378008,378012', '--json'),
    );
    expect(range.runs).toBe(4);
    const era = parsed<{ runs: number }>(
      await rc('--db', db, 'inject', '--campaign', 'test_rereco', '--era', 'Run2024B', '--json'),
    );
    expect(era.runs).toBe(150);
    const table = ok(await rc('--db', db, 'status', '--campaign', 'test_rereco', '--runs', '378008,378009'));
    expect(table).toMatch(/│ run\s+│ fill\s+│ era\s+│ workflow1 │ workflow2 │ workflow3 │/);
    expect(table).toMatch(/│ 378008 │ 9380 │ Run2024A │ new\s+│ new\s+│ new\s+│/);
    const st = parsed<{ workflows: string[]; rows: { run: number; status: Record<string, string> }[] }>(
      await rc(
        '--db',
        db,
        'status',
        '--campaign',
        'test_rereco',
        '--workflow',
        'workflow2',
        '--era',
        'Run2024B',
        '--json',
      ),
    );
    expect(st.workflows).toEqual(['workflow2']);
    expect(st.rows.length).toBe(150);
  });

  it('deactivates as documented: rtype-list, --remove task1,task2,task3 --type all, --remove task4,task5 --type stable_beams', async () => {
    ok(await rc('--db', db, 'create', '--campaign', 'campaign_name'));
    ok(
      await rc(
        '--db',
        db,
        'rtype-create',
        '--campaign',
        'campaign_name',
        '--type',
        'stable_beams',
        '--global',
        '--stable-beams',
        '--min-duration',
        '600',
      ),
    );
    ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'campaign_name',
        '--add',
        'task1,task2,task3',
        '--type',
        'all',
      ),
    );
    ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'campaign_name',
        '--add',
        'task4',
        'task5',
        '--type',
        'stable_beams',
      ),
    );
    // list all tasks of the campaign
    expect(ok(await rc('--db', db, 'rtype-list', '--campaign', 'campaign_name'))).toMatch(
      /│ all\s+│ global\s+│ task1 task2 task3 │[\s\S]*│ stable_beams │ global, stable beams, ≥600s │ task4 task5\s+│/,
    );
    ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'campaign_name',
        '--remove',
        'task1,task2,task3',
        '--type',
        'all',
      ),
    );
    ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'campaign_name',
        '--remove',
        'task4,task5',
        '--type',
        'stable_beams',
      ),
    );
    // check that there are no active tasks left
    const left = parsed<{ workflows: string[] }[]>(
      await rc('--db', db, 'rtype-list', '--campaign', 'campaign_name', '--json'),
    );
    expect(left.flatMap((t) => t.workflows)).toEqual([]);
    const list = parsed<{ campaign: string; activity: string }[]>(await rc('--db', db, 'list', '--json'));
    expect(list.find((c) => c.campaign === 'campaign_name')?.activity).toBe('deactivated');
    // to reactivate, add active tasks again with rtype-update --add
    ok(
      await rc(
        '--db',
        db,
        'rtype-update',
        '--campaign',
        'campaign_name',
        '--add',
        'task1',
        'task2',
        'task3',
        '--type',
        'all',
      ),
    );
    const again = parsed<{ rtype: string; workflows: string[] }[]>(
      await rc('--db', db, 'rtype-list', '--campaign', 'campaign_name', '--json'),
    );
    expect(again.map((t) => [t.rtype, t.workflows])).toEqual([
      ['all', ['task1', 'task2', 'task3']],
      ['stable_beams', []],
    ]);
  });

  it('deactivate and reactivate in one step each, visible in list', async () => {
    expect(ok(await rc('--db', db, 'deactivate', '--campaign', 'test_rereco'))).toMatch(
      /deactivated campaign 'test_rereco': now deactivated/,
    );
    expect(ok(await rc('--db', db, 'list'))).toMatch(
      /│ test_rereco\s+│ deactivated │ \(suspended: workflow1 workflow2 workflow3\)/,
    );
    const r = parsed<{ activity: string; rtypes: { workflows: string[] }[] }>(
      await rc('--db', db, 'reactivate', '--campaign', 'test_rereco', '--json'),
    );
    expect(r.activity).toBe('active');
    expect(r.rtypes[0]?.workflows).toEqual(['workflow1', 'workflow2', 'workflow3']);
  });
});

describe('apply and --json everywhere', () => {
  it('applies the sample campaign, idempotently, with --dry-run showing the diff only', async () => {
    const file = path.join(ROOT, 'campaigns', 'rereco_2024.json');
    const dry = parsed<{ dryRun: boolean; changes: { kind: string }[] }>(
      await rc('--db', db, 'apply', file, '--dry-run', '--json'),
    );
    expect(dry.dryRun).toBe(true);
    expect(dry.changes[0]?.kind).toBe('create-campaign');
    expect(ok(await rc('--db', db, 'apply', file))).toMatch(
      /applied \d+ change\(s\) to campaign 'rereco_2024'/,
    );
    expect(ok(await rc('--db', db, 'apply', file))).toMatch(
      /campaign 'rereco_2024' already matches .*: nothing to change/,
    );
    const created = parsed<{ created: boolean }>(
      await rc('--db', db, 'create', '--campaign', 'rereco_2024', '--if-not-exists', '--json'),
    );
    expect(created.created).toBe(false);
  });

  it('a run-list file, a dry run and the mode flag from the command line', async () => {
    const list = path.join(cwd, 'golden.txt');
    writeFileSync(list, '# golden\n380257\n380264 # second\n');
    const dry = parsed<{ dryRun: boolean; runs: number; points: number }>(
      await rc('--db', db, 'inject', '--campaign', 'rereco_2024', '--runlist', list, '--dry-run', '--json'),
    );
    expect(dry.dryRun).toBe(true);
    expect(dry.runs).toBe(2);
    const out = ok(
      await rc('--db', db, 'inject', '--campaign', 'rereco_2024', '--runlist', list, '--mode', 'failed'),
    );
    expect(out).toMatch(/\(mode failed\)/);
    // piped: no progress bar, nothing on stderr (checked by ok())
    expect(out.includes('\u001b[') || /[░█]/.test(out)).toBe(false);
  });
});

describe('the yargs surface', () => {
  it('shows an example in the --help of every command', async () => {
    const top = ok(await rc('--help'));
    const commands = [...top.matchAll(/^ {2}runctrl ([a-z][a-z-]*)/gm)]
      .map((m) => m[1] ?? '')
      .filter((c) => c !== 'completion');
    expect(commands).toEqual(
      expect.arrayContaining([
        'create',
        'list',
        'deactivate',
        'reactivate',
        'rtype-create',
        'rtype-update',
        'rtype-list',
        'inject',
        'status',
        'apply',
      ]),
    );
    // in-process (the same parser bin/runctrl.js runs; a process per command would cost ~0.5 s each)
    const helps = await Promise.all(commands.map((c) => runCli([c, '--help'], { env: env(), cwd })));
    helps.forEach((h, i) => {
      expect(h.code, commands[i]).toBe(0);
      expect(h.stdout, commands[i]).toMatch(/Examples:\n\s+runctrl /);
    });
  });

  it('rejects unknown options and commands with exit 2', async () => {
    expectCleanError(await rc('--db', db, 'list', '--bogus'), 2, /Unknown argument: bogus/);
    expectCleanError(
      await rc('--db', db, 'inject', '--campaign', 'test_rereco', '--runs', '1', '--rnage', '1,2'),
      2,
      /Unknown argument: rnage/,
    );
    expectCleanError(await rc('--db', db, 'frobnicate'), 2, /Unknown argument: frobnicate/);
    expectCleanError(await rc(), 2, /give a command/);
  });

  it('refuses a missing --db, a missing run selection and two selections (exit 2)', async () => {
    expectCleanError(await rc('list'), 2, /no database given: pass --db NAME .* or set RUNCTRL_DB/);
    expectCleanError(
      await rc('--db', db, 'inject', '--campaign', 'test_rereco'),
      2,
      /say which runs: give one of --runs 1,2,3, --range MIN,MAX, --era NAME or --runlist FILE/,
    );
    expectCleanError(
      await rc('--db', db, 'inject', '--campaign', 'test_rereco', '--runs', '1', '--era', 'Run2024C'),
      2,
      /Arguments runs and era are mutually exclusive/,
    );
  });

  it('takes --db from RUNCTRL_DB and prints a shell completion script', async () => {
    const r = await spawnCli(['list', '--json'], { env: { ...env(), RUNCTRL_DB: db }, cwd });
    expect(parsed<unknown[]>(r).length).toBeGreaterThan(0);
    expect(ok(await rc('completion'))).toMatch(/runctrl/);
    expect(ok(await rc('--version'))).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('failures and blocked on the sample campaign (a failure, a block, a lock)', () => {
  const sample = freshDb('e2ef');
  const jobRoot = mkdtempSync(path.join(os.tmpdir(), 'runctrl-e2ef-'));
  beforeAll(async () => {
    await writeSample(testCtx(sample), jobRoot);
  });

  it('runctrl failures groups the current failures by cause, as a table and as JSON', async () => {
    const text = ok(await rc('--db', sample.db, 'failures', '-c', CAMPAIGN));
    expect(text).toContain(
      `campaign '${CAMPAIGN}': 1 pair(s) failed now · 2 job failure(s) in 24 h · 1 unit(s) failing in 1 group(s)`,
    );
    expect(text).toContain('exit 65 · ERROR: cannot open /eos/cms/run_N/raw_N.root');
    const r = parsed<{
      groups: {
        cause: string;
        count: number;
        jobs: number;
        runs: number[];
        entries: { attempt: number; stderrLine: string; superseded: { attempt: number }[] }[];
      }[];
    }>(await rc('--db', sample.db, 'failures', '-c', CAMPAIGN, '--json'));
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]).toMatchObject({ count: 1, jobs: 2, runs: [FAILED_RUN] });
    expect(r.groups[0]?.entries[0]).toMatchObject({
      attempt: 2,
      stderrLine: `ERROR: cannot open /eos/cms/run_${FAILED_RUN}/raw_002.root`,
      superseded: [{ attempt: 1 }],
    });
    expectCleanError(await rc('--db', sample.db, 'failures', '-c', 'nope'), 1, /campaign 'nope'/);
  });

  it('runctrl status counts blocked apart, columns in dependency order', async () => {
    const s = parsed<{ workflows: string[]; totals: Record<string, Record<string, number>> }>(
      await rc('--db', sample.db, 'status', '-c', CAMPAIGN, '--json'),
    );
    expect(s.workflows).toEqual(['ecal-reco', 'pi0-mon', 'timing-val', 'ic-combi']);
    expect(s.totals['ic-combi']).toEqual({
      new: 60,
      processing: 0,
      done: 0,
      failed: 0,
      reprocess: 0,
      blocked: 12,
    });
    const text = ok(await rc('--db', sample.db, 'status', '-c', CAMPAIGN, '--limit', '1'));
    expect(text).toMatch(
      /│ workflow\s+│ new\s+│ processing\s+│ done\s+│ failed\s+│ reprocess\s+│ blocked\s+│/,
    );
    expect(text).toMatch(/│ ic-combi\s+│ 60\s+│ 0\s+│ 0\s+│ 0\s+│ 0\s+│ 12\s+│/);
    const why = ok(await rc('--db', sample.db, 'why', '-c', CAMPAIGN, '--run', String(FAILED_RUN)));
    expect(why).toContain('blocked: ecal-reco failed for good (reprocess ecal-reco to go on)');
  });
});
