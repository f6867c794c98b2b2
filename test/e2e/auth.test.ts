/**
 * Wrong credentials (401) and missing privilege (403) against a SECOND influxd with authentication on
 * (scripts/influxdb.sh with RUNCTRL_INFLUXDB_AUTH=true), bootstrapped as the InfluxDB 1.6 reference says:
 * the admin user first (the only statement allowed without credentials), then a database, a reader (READ)
 * and a writer (ALL). Passwords must never appear in any output.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxClient } from '../../src/store/influx.js';
import { ROOT, snapshot } from '../helpers/ctx.js';
import { expectCleanError, spawnCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-auth-influx-'));
const cwd = mkdtempSync(path.join(os.tmpdir(), 'runctrl-auth-'));
const script = path.join(ROOT, 'scripts', 'influxdb.sh');
const DB = 'ecal_rerecos_v1';
const PW = { admin: 'Adm1n-pw-7c1f', reader: 'R3ad-pw-a9e2', writer: 'Wr1te-pw-5d0b' };
let url = '';
let admin: InfluxClient;
const outputs: string[] = [];

async function bootstrapQuery(q: string, auth?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/query`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {}),
    },
    body: new URLSearchParams({ q }).toString(),
  });
  return { status: res.status, body: await res.text() };
}

/** Runs the CLI as a user (environment variables, the ECAL names or the project's), recording its output. */
async function as(
  user: string | undefined,
  password: string | undefined,
  args: string[],
  names: 'runctrl' | 'ecal' = 'runctrl',
): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { RUNCTRL_INFLUXDB_URL: url };
  if (user !== undefined) env[names === 'ecal' ? 'ECAL_INFLUXDB_USER' : 'RUNCTRL_INFLUXDB_USER'] = user;
  if (password !== undefined)
    env[names === 'ecal' ? 'ECAL_INFLUXDB_PWD' : 'RUNCTRL_INFLUXDB_PASSWORD'] = password;
  const r = await spawnCli(['--db', DB, ...args], { env, cwd });
  outputs.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  url =
    execFileSync('bash', [script, 'up', dir], {
      encoding: 'utf8',
      env: { ...process.env, RUNCTRL_INFLUXDB_AUTH: 'true' },
    })
      .trim()
      .split('\n')
      .pop() ?? '';
  // the admin user first: retry until the answer is 200 without an "error" (runtime errors come as 200)
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await bootstrapQuery(`CREATE USER admin WITH PASSWORD '${PW.admin}' WITH ALL PRIVILEGES`).catch(
      () => ({
        status: 0,
        body: '',
      }),
    );
    if (r.status === 200 && !r.body.includes('"error"')) break;
    if (Date.now() > deadline) throw new Error(`admin bootstrap failed: ${r.status} ${r.body}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  for (const q of [
    `CREATE DATABASE ${DB}`,
    `CREATE USER reader WITH PASSWORD '${PW.reader}'`,
    `CREATE USER writer WITH PASSWORD '${PW.writer}'`,
    `GRANT READ ON ${DB} TO reader`,
    `GRANT ALL ON ${DB} TO writer`,
  ]) {
    const r = await bootstrapQuery(q, `admin:${PW.admin}`);
    expect([r.status, r.body]).toEqual([200, '{"results":[{"statement_id":0}]}\n']);
  }
  admin = new InfluxClient({ url, db: DB, user: 'admin', password: PW.admin });
}, 60_000);

afterAll(() => {
  execFileSync('bash', [script, 'down', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

describe('InfluxDB with authentication', () => {
  it('a writer without admin privilege creates a campaign, edits it and injects (ECAL_* variables honoured)', async () => {
    const w = (args: string[]) => as('writer', PW.writer, args, 'ecal');
    expect((await w(['create', '--campaign', 'test_rereco'])).code).toBe(0);
    expect(
      (
        await w([
          'rtype-update',
          '--campaign',
          'test_rereco',
          '--add',
          'workflow1',
          'workflow2',
          '--type=all',
        ])
      ).code,
    ).toBe(0);
    const r = await as('writer', PW.writer, [
      'inject',
      '--campaign',
      'test_rereco',
      '--runs',
      '378008',
      '--json',
      '-v',
    ]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { changes: number }).changes).toBe(2);
  });

  it('a reader lists and reads the status', async () => {
    const r = await as('reader', PW.reader, ['status', '--campaign', 'test_rereco', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { rows: unknown[] }).rows).toHaveLength(1);
  });

  it('403: a read-only user injecting gets a clear error and nothing is written', async () => {
    const before = await snapshot(admin);
    const r = await as('reader', PW.reader, [
      'inject',
      '--campaign',
      'test_rereco',
      '--runs',
      '378009',
      '--verbose',
    ]);
    // --verbose shows the settings, with the password hidden, before the error line
    expect(r.stderr).toMatch(/^runctrl: settings \{.*"user":"reader".*"password":"\*\*\*"/);
    expectCleanError(
      { ...r, stderr: r.stderr.replace(/^runctrl: settings .*\n/, '') },
      1,
      /InfluxDB user 'reader' may not do this on database 'ecal_rerecos_v1' \(403 .*not authorized to write.*\): use a user with WRITE privilege/,
    );
    expect(await snapshot(admin)).toBe(before);
  });

  it('403: a read-only user creating a campaign or changing a run type', async () => {
    const before = await snapshot(admin);
    expectCleanError(
      await as('reader', PW.reader, ['create', '--campaign', 'other']),
      1,
      /InfluxDB user 'reader' may not do this .*403/,
    );
    expectCleanError(
      await as('reader', PW.reader, [
        'rtype-update',
        '--campaign',
        'test_rereco',
        '--type',
        'all',
        '--add',
        'x',
      ]),
      1,
      /InfluxDB user 'reader' may not do this .*403/,
    );
    expect(await snapshot(admin)).toBe(before);
  });

  it('401: a wrong password, an unknown user, or no credentials at all', async () => {
    const before = await snapshot(admin);
    const fix =
      /check RUNCTRL_INFLUXDB_USER\/RUNCTRL_INFLUXDB_PASSWORD \(or ECAL_INFLUXDB_USER\/ECAL_INFLUXDB_PWD/;
    const wrong = await as('writer', `${PW.writer}-typo`, [
      'inject',
      '--campaign',
      'test_rereco',
      '--runs',
      '378009',
    ]);
    expectCleanError(
      wrong,
      1,
      /InfluxDB at http:\/\/127\.0\.0\.1:\d+ refused the credentials of 'writer' \(401 authorization failed\)/,
    );
    expect(wrong.stderr).toMatch(fix);
    expectCleanError(
      await as('nobody', PW.writer, ['list'], 'ecal'),
      1,
      /refused the credentials of 'nobody' \(401/,
    );
    expectCleanError(
      await as(undefined, undefined, ['list']),
      1,
      /refused the credentials of 'anonymous' \(401 unable to parse authentication credentials\)/,
    );
    expect(await snapshot(admin)).toBe(before);
  });

  it('never prints a password, not even in errors or with --verbose', () => {
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const pw of Object.values(PW)) expect(all).not.toContain(pw);
    expect(all).not.toContain(Buffer.from(`writer:${PW.writer}`).toString('base64'));
  });
});
