/**
 * The OMS run source end to end (`node bin/runctrl.js`) against the strict local OMS with client
 * credentials: inject --era / --range, a prompt-mode daemon across several token lifetimes, every
 * credential failure as one line, and no secret in any output (--verbose included).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, expectCleanError } from '../helpers/cli.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loggingCommand, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';
import { CLIENT, era, FakeOms, omsRow } from '../helpers/oms-server.js';

const oms = new FakeOms();
const runs = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('OMS run source with client credentials', () => {
  const db = freshDb('promptoms');
  let e: LoopEnv;

  beforeAll(async () => {
    await oms.start();
    oms.rows = runs(380001, 10).map((r) => omsRow(r));
    oms.eraRows = [era('Run2024C', 380001, 380005), era('Run2024D', 380006, null)];
    e = loopEnv(db.db, []);
    e.env = { ...e.env, ...oms.env() };
    const spec = {
      rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
      workflows: { A: { command: loggingCommand('a') } },
    };
    await ok(e, ['apply', writeCampaign(e, { campaign: 'rereco', ...spec }, 'r.json')]);
    await ok(e, ['apply', writeCampaign(e, { campaign: 'prompt', ...spec }, 'p.json')]);
  });
  afterAll(() => oms.stop());

  it('injects by era and by range through bin/runctrl.js, printing no secret with --verbose', async () => {
    const byEra = await cli(e, ['--verbose', 'inject', '--campaign', 'rereco', '--era', 'Run2024D']);
    expect(byEra.code, byEra.stderr).toBe(0);
    expect(byEra.stderr).toContain('RUNCTRL_OMS_CLIENT_ID');
    expect(`${byEra.stdout}${byEra.stderr}`).not.toContain(CLIENT.secret);
    expect((await statusOf(e, 'rereco')).rows.map((x) => x.run)).toEqual(runs(380006, 5));
    const byRange = await cli(e, ['inject', '--campaign', 'rereco', '--range', '380001,380003']);
    expect(byRange.code, byRange.stderr).toBe(0);
    expect((await statusOf(e, 'rereco')).rows.map((x) => x.run)).toEqual([
      ...runs(380001, 3),
      ...runs(380006, 5),
    ]);
    // the era came from the eras endpoint; no request named an era attribute, every runs query projected
    const params = oms.seen.flatMap((s) => [...s.params.keys()]);
    expect(params).toContain('filter[name][EQ]');
    expect(params.some((k) => k.startsWith('filter[era]'))).toBe(false);
    expect(oms.queries().every((q) => q.fields !== undefined)).toBe(true);
  });

  it('keeps sensing new runs in prompt mode across several token renewals', async () => {
    oms.lifetime = 2;
    const issued0 = oms.tokensIssued;
    const daemon = spawn(
      process.execPath,
      [
        BIN,
        'automation',
        '--daemon',
        '--interval',
        '1s',
        '--prompt',
        '--campaign',
        'prompt',
        '--start-run',
        '380010',
      ],
      {
        cwd: e.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    daemon.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
    daemon.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((res) => daemon.on('close', (code) => res(code)));
    try {
      // a new run every 1.5 s for 8 runs (≈ 12 s, six token lifetimes)
      for (const r of runs(380011, 8)) {
        oms.rows.push(omsRow(r));
        await new Promise((res) => setTimeout(res, 1_500));
      }
      await waitFor(async () => (await statusOf(e, 'prompt')).rows.length === 8, 20_000);
    } finally {
      daemon.kill('SIGTERM');
    }
    expect(await exited, log).toBe(0);
    expect((await statusOf(e, 'prompt')).rows.map((x) => x.run)).toEqual(runs(380011, 8));
    expect(oms.tokensIssued - issued0).toBeGreaterThanOrEqual(4); // the first token and ≥ 3 renewals
    expect(log).not.toMatch(/infrastructure error|refused/);
    expect(log).not.toContain(CLIENT.secret);
    oms.lifetime = 3;
  }, 60_000);

  it('reports each credential problem in one line, naming the setting, never the secret', async () => {
    const args = ['inject', '--campaign', 'rereco', '--range', '380001,380002'];
    const wrong = await cli(e, ['--verbose', ...args], { RUNCTRL_OMS_CLIENT_SECRET: 'wrong-s3cret-value' });
    expectCleanError(
      strip(wrong),
      1,
      /refused client 'ecal-runctrl' \(401 invalid_client: .*\): check RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET/,
    );
    expect(`${wrong.stdout}${wrong.stderr}`).not.toContain('s3cret');
    const audience = await cli(e, args, { RUNCTRL_OMS_AUDIENCE: 'cmsoms-nope' });
    expectCleanError(audience, 1, /does not know the audience 'cmsoms-nope' .*: set RUNCTRL_OMS_AUDIENCE/);
    const half = await cli(e, args, { RUNCTRL_OMS_CLIENT_SECRET: '' });
    expectCleanError(half, 1, /RUNCTRL_OMS_CLIENT_SECRET is not set/);
    oms.authorized.delete(CLIENT.id);
    const refused = await cli(e, args);
    oms.authorized.add(CLIENT.id);
    expectCleanError(refused, 1, /refused the access token of client 'ecal-runctrl' .*\(403 Access denied\)/);
    const down = await cli(e, args, { RUNCTRL_OMS_TOKEN_URL: `${oms.base}/nowhere/token` });
    expectCleanError(
      down,
      1,
      /the OMS token endpoint .*\/nowhere\/token answered 404: check RUNCTRL_OMS_TOKEN_URL/,
    );
    oms.tokenFaults = Array.from({ length: 4 }, () => ({ kind: 'status' as const, code: 503 }));
    const unavailable = await cli(e, args);
    expectCleanError(unavailable, 3, /the OMS token endpoint .* answered 503/);
    for (const r of [wrong, audience, half, refused, down, unavailable]) {
      expect(`${r.stdout}${r.stderr}`).not.toContain(CLIENT.secret);
    }
  }, 60_000);
});

/** The result without the --verbose settings line. */
function strip(r: { code: number; stdout: string; stderr: string }): typeof r {
  return { ...r, stderr: r.stderr.replace(/^runctrl: settings .*\n/m, '') };
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`condition not met within ${ms} ms`);
}
