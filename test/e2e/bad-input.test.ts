/**
 * Bad input gets a clear error and no write: every case spawns `node bin/runctrl.js`, checks the exit
 * code and that stderr is one `runctrl: …` line saying how to fix it (no stack trace), and that the
 * database holds exactly the same points afterwards.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDb, influxUrl } from '../helpers/influx.js';
import { countPoints, ROOT, snapshot } from '../helpers/ctx.js';
import { expectCleanError, spawnCli, type CliResult } from '../helpers/cli.js';

const client = freshDb('bad');
const db = client.db;
const cwd = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bad-'));
const C = 'test_rereco';
const rc = (...args: string[]): Promise<CliResult> =>
  spawnCli(['--db', db, ...args], { env: { RUNCTRL_INFLUXDB_URL: influxUrl() }, cwd });

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  for (const args of [
    ['create', '--campaign', C],
    ['rtype-update', '--campaign', C, '--type', 'all', '--add', 'ecal-reco', 'pi0-mon'],
    ['inject', '--campaign', C, '--runs', '378008,378009'],
  ]) {
    const r = await rc(...args);
    expect(r.stderr).toBe('');
  }
  expect(await countPoints(client)).toBeGreaterThan(0);
});

const cases: [string, string[], number, RegExp][] = [
  [
    'unknown campaign',
    ['inject', '--campaign', 'nope', '--runs', '378008'],
    1,
    /unknown campaign 'nope' in database '.*' \(known: test_rereco\): create it with 'runctrl --db .* create --campaign nope'/,
  ],
  [
    'malformed --runs 1,,x',
    ['inject', '--campaign', C, '--runs', '1,,x'],
    2,
    /--runs: empty item in '1,,x' \(give e\.g\. --runs/,
  ],
  [
    'a run that is not a number',
    ['inject', '--campaign', C, '--runs', '378008,abc'],
    2,
    /'abc' is not a run number/,
  ],
  [
    'reversed --range',
    ['inject', '--campaign', C, '--range', '378100,378000'],
    2,
    /--range: 378100 is above 378000: give the smaller run first \(--range 378000,378100\)/,
  ],
  [
    'open --range',
    ['inject', '--campaign', C, '--range', '378000,'],
    2,
    /--range: give two run numbers 'min,max'/,
  ],
  // issue 14 item 9: the CLI and the dashboard share these rules (src/domain/operation-args.ts)
  [
    'lock --from-run -5',
    ['lock', '--campaign', C, '--workflow', 'pi0-mon', '--from-run', '-5', '--reason', 'x'],
    2,
    /--from-run must be a run number \(a whole number from 0 up\), not -5/,
  ],
  [
    'lock --from-run abc',
    ['lock', '--campaign', C, '--workflow', 'pi0-mon', '--from-run', 'abc', '--reason', 'x'],
    2,
    /--from-run must be a run number/,
  ],
  [
    'lock with a blank --reason',
    ['lock', '--campaign', C, '--workflow', 'pi0-mon', '--from-run', '5', '--reason', '  '],
    2,
    /say why with --reason/,
  ],
  [
    'runs absent from the registry',
    ['inject', '--campaign', C, '--runs', '378008,1,2'],
    1,
    /2 run\(s\) not found in the run source \(registry .*sample-registry\.json\): 1, 2: check the run numbers/,
  ],
  [
    'a range without runs',
    ['inject', '--campaign', C, '--range', '1,100'],
    1,
    /no runs between 1 and 100 in the run source .*: check the range/,
  ],
  [
    'unknown era',
    ['inject', '--campaign', C, '--era', 'Run2099A'],
    1,
    /unknown era 'Run2099A' in the run source .*; known eras: Run2024A, Run2024B/,
  ],
  [
    'unknown era in status',
    ['status', '--campaign', C, '--era', 'Run2099A'],
    1,
    /unknown era 'Run2099A'.*known eras: Run2024A/,
  ],
  [
    'unknown run type',
    ['rtype-update', '--campaign', C, '--type', 'stable_beams', '--add', 'pi0-mon'],
    1,
    /unknown run type 'stable_beams' in campaign 'test_rereco' \(known: all\): create it with 'rtype-create --campaign test_rereco --type stable_beams'/,
  ],
  [
    'removing a workflow the run type does not have',
    ['rtype-update', '--campaign', C, '--type', 'all', '--remove', 'ecal-reco,timing-val'],
    1,
    /workflow\(s\) timing-val not in run type 'all' of campaign 'test_rereco' \(active: ecal-reco, pi0-mon\)/,
  ],
  [
    'a campaign name outside the character set',
    ['create', '--campaign', 'bad name!'],
    1,
    /invalid campaign name 'bad name!': use letters, digits, "_", "-" and "\."/,
  ],
  [
    'the same, on inject',
    ['inject', '--campaign', 'bad name!', '--runs', '378008'],
    1,
    /invalid campaign name 'bad name!'/,
  ],
  [
    'a run-type name outside the character set',
    ['rtype-create', '--campaign', C, '--type', 'a b', '--global'],
    1,
    /invalid run type name 'a b'/,
  ],
  [
    'a workflow name outside the character set',
    ['rtype-update', '--campaign', C, '--type', 'all', '--add', 'reco;rm'],
    1,
    /invalid workflow name 'reco;rm'/,
  ],
  [
    'a filter that is not key=value',
    ['rtype-create', '--campaign', C, '--type', 'x', '--filter', 'stable'],
    2,
    /--filter: 'stable' is not key=value/,
  ],
  [
    'an existing campaign',
    ['create', '--campaign', C],
    1,
    /campaign 'test_rereco' already exists in database .*: choose another name, or add --if-not-exists/,
  ],
  [
    'a missing campaign file',
    ['apply', 'campaigns/nope.json'],
    1,
    /cannot read campaign file 'campaigns\/nope\.json' \(ENOENT\): give the path of a campaigns\/NAME\.json file/,
  ],
  [
    'an unparsable campaign file',
    ['apply', 'broken.json'],
    1,
    /campaign file 'broken\.json' is not valid JSON \(.*\): fix the syntax/,
  ],
  [
    'a campaign file with a dependency cycle',
    ['apply', 'cycle.json'],
    1,
    /cycle\.json: dependency cycle a -> b -> a: remove one of these depends_on entries/,
  ],
  [
    'a missing run-list file',
    ['inject', '--campaign', C, '--runlist', 'none.txt'],
    1,
    /cannot read run-list file 'none\.txt' \(ENOENT\)/,
  ],
  [
    'a bad line in a run list',
    ['inject', '--campaign', C, '--runlist', 'bad.txt'],
    1,
    /bad\.txt:2: '378009-378011' is not a run number/,
  ],
  [
    'a state directory that is a file',
    ['--state-dir', '/etc/passwd', 'automation', '--once'],
    1,
    /state directory '\/etc\/passwd' is not usable \(\/etc\/passwd is not a directory\): give a writable directory with --state-dir/,
  ],
  [
    'a state directory that cannot be made (under /proc)',
    ['--state-dir', '/proc/nope', 'automation', '--once'],
    1,
    /state directory '\/proc\/nope' is not usable \(ENOENT\): give a writable directory with --state-dir/,
  ],
  [
    'a state directory under a file',
    ['--state-dir', '/etc/passwd/x', 'automation', '--until-done'],
    1,
    /state directory '\/etc\/passwd\/x' is not usable \(\/etc\/passwd is not a directory\)/,
  ],
  [
    'a job root that cannot be made',
    ['automation', '--once', '--job-root', '/proc/jobs'],
    1,
    /job directory '\/proc\/jobs' is not usable \(ENOENT\): give a writable directory with --job-root/,
  ],
  [
    'an unknown on_input_change in a campaign file',
    ['apply', 'follow.json'],
    1,
    /follow\.json: workflow 'b': 'on_input_change' must be "mark" or "reprocess" \(got "always"\)/,
  ],
  [
    'job done --output holding a line break',
    ['job', 'done', '--campaign', C, '--workflow', 'ecal-reco', '--run', '378008', '--output', 'a\nb'],
    2,
    /--output: output "a\\nb" holds a line break: give one output per value/,
  ],
  [
    'reprocess --with-dependents of an unknown workflow',
    ['reprocess', '--campaign', C, '--workflow', 'nope', '--runs', '378008', '--with-dependents'],
    1,
    /unknown workflow 'nope' in campaign 'test_rereco'/,
  ],
  [
    'status --limit -1',
    ['status', '--campaign', C, '--limit', '-1'],
    2,
    /--limit: give a whole number of runs ≥ 0/,
  ],
  [
    '--until-done with --prompt',
    ['automation', '--until-done', '--prompt'],
    2,
    /--until-done does not go with --prompt/,
  ],
  [
    'an InfluxDB URL of another scheme',
    ['--influx-url', 'ftp://127.0.0.1:8086', 'list'],
    1,
    /invalid InfluxDB URL 'ftp:\/\/127\.0\.0\.1:8086': only http:\/\/ and https:\/\/ are supported/,
  ],
  ...(
    [
      ['--max-in-flight', '-3', 'a positive integer'],
      ['--max-in-flight', '0', 'a positive integer'],
      ['--max-in-flight', '2.5', 'a positive integer'],
      ['--max-in-flight', 'many', 'a positive integer'],
      ['--max-submit', '-1', 'a positive integer'],
      ['--start-run', '-5', 'an integer of at least 0'],
      ['--serve', '70000', 'an integer from 0 to 65535'],
    ] as const
  ).map(([flag, v, what]): [string, string[], number, RegExp] => [
    `automation --once ${flag} ${v}`,
    ['automation', flag === '--serve' ? '--daemon' : '--once', flag, v],
    2,
    new RegExp(`${flag}: give ${what} \\(not '(${v}|NaN)'\\)`),
  ]),
  [
    'serve --max-in-flight -3',
    ['serve', '--max-in-flight', '-3'],
    2,
    /--max-in-flight: give a positive integer/,
  ],
];

describe('bad input: a clear one-line error, a non-zero exit, and no write', () => {
  beforeAll(() => {
    writeFileSync(path.join(cwd, 'broken.json'), '{ "campaign": "x", "rtypes": { ');
    writeFileSync(
      path.join(cwd, 'cycle.json'),
      JSON.stringify({
        campaign: C,
        rtypes: { all: { workflows: ['a'] } },
        workflows: {
          a: { command: 'echo a', depends_on: ['b'] },
          b: { command: 'echo b', depends_on: ['a'] },
        },
      }),
    );
    writeFileSync(path.join(cwd, 'bad.txt'), '378008\n378009-378011\n');
    writeFileSync(
      path.join(cwd, 'follow.json'),
      JSON.stringify({
        campaign: C,
        rtypes: { all: { workflows: ['a', 'b'] } },
        workflows: {
          a: { command: 'echo a' },
          b: { command: 'echo b', depends_on: ['a'], on_input_change: 'always' },
        },
      }),
    );
  });

  it.each(cases)('%s', async (_name, args, code, message) => {
    const before = await snapshot(client);
    const points = await countPoints(client);
    expectCleanError(await rc(...args), code, message);
    expect(await countPoints(client)).toBe(points);
    expect(await snapshot(client)).toBe(before);
  });

  it('server unreachable: exit 3 within a few seconds, saying how to fix it', async () => {
    const port = await closedPort();
    const before = await snapshot(client);
    const t0 = Date.now();
    const r = await spawnCli(
      ['--db', db, '--influx-url', `http://127.0.0.1:${port}`, 'inject', '--campaign', C, '--runs', '378008'],
      {
        cwd,
      },
    );
    const took = Date.now() - t0;
    expectCleanError(
      r,
      3,
      new RegExp(
        `cannot reach InfluxDB at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): start it \\(scripts/influxdb\\.sh up\\) or point --influx-url/RUNCTRL_INFLUXDB_URL at a running server`,
      ),
    );
    expect(took).toBeLessThan(8_000);
    expect(await snapshot(client)).toBe(before);
  });

  it('the sample campaign file is found relative to the working directory', async () => {
    const r = await spawnCli(['--db', db, 'apply', 'campaigns/rereco_2024.json', '--dry-run'], {
      env: { RUNCTRL_INFLUXDB_URL: influxUrl() },
      cwd: ROOT,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[dry run\] would apply \d+ change\(s\) to campaign 'rereco_2024'/);
  });
});
