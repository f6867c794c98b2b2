/**
 * /healthz and the error metrics through a real InfluxDB outage: a daemon (`--interval 1s --metrics 0`) on a
 * private influxd answers 200; with the server stopped, 503 once three intervals passed without a successful pass,
 * with a one-line JSON reason counting the infrastructure errors in a row (and the metrics saying the same);
 * 200 again once the server is back.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InfluxClient } from '../../src/store/influx.js';
import { BIN } from '../helpers/cli.js';
import { ROOT } from '../helpers/ctx.js';
import { makeRun } from '../helpers/fixtures.js';
import { loggingCommand, loopEnv, ok, writeCampaign } from '../helpers/loop.js';

const script = path.join(ROOT, 'scripts', 'influxdb.sh');
const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-health-influx-'));
const sh = (...args: string[]): string =>
  execFileSync('bash', [script, ...args], { encoding: 'utf8' }).trim();

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('/healthz through an InfluxDB outage', () => {
  afterAll(() => {
    sh('down', dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('200, then 503 with the errors in a row, then 200 again', async () => {
    const url = sh('up', dir).split('\n').pop() ?? '';
    const port = new URL(url).port;
    await new InfluxClient({ url, db: 'health' }).createDatabase();
    const e = loopEnv('health', [makeRun(394001)], url);
    const file = writeCampaign(e, {
      campaign: 'h',
      rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
      workflows: { A: { command: loggingCommand('a') } },
    });
    await ok(e, ['apply', file]);
    const daemon = spawn(
      process.execPath,
      [BIN, 'automation', '--daemon', '--interval', '1s', '--metrics', '0'],
      {
        cwd: e.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    daemon.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((r) => daemon.on('close', (code) => r(code)));
    try {
      const metrics = await until('the metrics URL', () =>
        Promise.resolve(/metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(log)?.[1]),
      );
      const health = metrics.replace(/metrics$/, 'healthz');
      const answer = async (): Promise<{ code: number; body: { status: string; reason: string } }> => {
        const res = await fetch(health);
        const text = await res.text();
        expect(text.trimEnd().split('\n')).toHaveLength(1);
        return { code: res.status, body: JSON.parse(text) as { status: string; reason: string } };
      };
      await until('a successful pass', async () =>
        /last successful pass/.test((await answer()).body.reason) ? true : undefined,
      );
      expect((await answer()).code).toBe(200);

      sh('down', dir);
      const down = await until('503', async () => {
        const a = await answer();
        return a.code === 503 && /infrastructure error\(s\) in a row/.test(a.body.reason) ? a : undefined;
      });
      expect(down.body).toMatchObject({ status: 'unhealthy' });
      expect(down.body.reason).toMatch(
        /^last successful pass ended \S+ ago \(limit 3s: 3 intervals\); \d+ infra/,
      );
      const text = await (await fetch(metrics)).text();
      expect(text).toMatch(/^runctrl_infrastructure_errors_in_a_row [1-9]/m);
      expect(text).toMatch(/^runctrl_passes_total\{kind="full",outcome="error"\} [1-9]/m);
      expect(text).toMatch(/^runctrl_influxdb_requests_total\{kind="query",outcome="error"\} [1-9]/m);

      sh('up', dir, port);
      await until('200 again', async () => ((await answer()).code === 200 ? true : undefined), 90_000);
      expect(await (await fetch(metrics)).text()).toMatch(/^runctrl_infrastructure_errors_in_a_row 0$/m);
    } finally {
      daemon.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 180_000);
});
