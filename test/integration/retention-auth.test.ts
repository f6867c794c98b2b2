/**
 * Retention without the privilege to delete, on an InfluxDB with authentication (scripts/influxdb.sh with
 * RUNCTRL_INFLUXDB_AUTH=true, bootstrapped as test/e2e/auth.test.ts does): a user with READ only gets one line
 * naming the WRITE privilege from `compact --prune-older-than` and from `automation --daemon --retention`, and
 * nothing is written or deleted (the privilege is checked before anything else); a user with ALL prunes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxClient } from '../../src/store/influx.js';
import { expectCleanError, spawnCli, type CliResult } from '../helpers/cli.js';
import { ROOT, snapshot } from '../helpers/ctx.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-ret-auth-influx-'));
const cwd = mkdtempSync(path.join(os.tmpdir(), 'runctrl-ret-auth-'));
const script = path.join(ROOT, 'scripts', 'influxdb.sh');
const DB = 'ecal_prompt_ret';
const PW = { admin: 'Adm1n-pw-31d7', reader: 'R3ad-pw-84ca', writer: 'Wr1te-pw-e6b2' };
let url = '';
let admin: InfluxClient;

async function post(q: string, auth?: string): Promise<{ status: number; body: string }> {
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

function as(user: 'reader' | 'writer', args: string[]): Promise<CliResult> {
  return spawnCli(['--db', DB, ...args], {
    env: {
      RUNCTRL_INFLUXDB_URL: url,
      RUNCTRL_INFLUXDB_USER: user,
      RUNCTRL_INFLUXDB_PASSWORD: PW[user],
      RUNCTRL_STATE_DIR: path.join(cwd, 'state'),
    },
    cwd,
  });
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
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await post(`CREATE USER admin WITH PASSWORD '${PW.admin}' WITH ALL PRIVILEGES`).catch(() => ({
      status: 0,
      body: '',
    }));
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
    const r = await post(q, `admin:${PW.admin}`);
    expect([r.status, r.body]).toEqual([200, '{"results":[{"statement_id":0}]}\n']);
  }
  admin = new InfluxClient({ url, db: DB, user: 'admin', password: PW.admin });
  expect((await as('writer', ['create', '--campaign', 'prompt'])).code).toBe(0);
  const add = ['rtype-update', '--campaign', 'prompt', '--add', 'w1', '--type=all'];
  expect((await as('writer', add)).code).toBe(0);
  expect((await as('writer', ['inject', '--campaign', 'prompt', '--runs', '378008'])).code).toBe(0);
}, 60_000);

afterAll(() => {
  execFileSync('bash', [script, 'down', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

describe('retention without the privilege to delete', () => {
  const refusal =
    /^runctrl: InfluxDB user 'reader' may not delete points in database 'ecal_prompt_ret' \(DELETE needs the WRITE privilege\): an admin can grant it with GRANT WRITE ON "ecal_prompt_ret" TO "reader".*nothing was deleted/;

  it('compact --prune-older-than: one line naming the privilege, nothing written or deleted', async () => {
    const before = await snapshot(admin);
    const r = await as('reader', ['compact', '--prune-older-than', '90d']);
    expectCleanError(r, 1, refusal);
    expect(await snapshot(admin)).toBe(before);
  });

  it('automation --daemon --retention: refused at start, before any pass', async () => {
    const before = await snapshot(admin);
    const r = await as('reader', ['automation', '--daemon', '--retention', '90d']);
    expectCleanError(r, 1, refusal);
    expect(await snapshot(admin)).toBe(before);
  });

  it('a user with ALL prunes (nothing old enough yet: the snapshot is written, no point deleted)', async () => {
    const r = await as('writer', ['compact', '--prune-older-than', '90d', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ campaign: 'prompt', statusPoints: 0, jobPoints: 0, ranges: 0 }),
    ]);
  });
});
