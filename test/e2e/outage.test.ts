/**
 * InfluxDB stops during the loop's work: the daemon backs off, resumes when the server returns, loses nothing,
 * and stops cleanly (exit 0) on SIGTERM.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InfluxClient } from '../../src/store/influx.js';
import { BIN } from '../helpers/cli.js';
import { ROOT } from '../helpers/ctx.js';
import { makeRun } from '../helpers/fixtures.js';
import { loggingCommand, loopEnv, ok, statusOf, writeCampaign } from '../helpers/loop.js';

const script = path.join(ROOT, 'scripts', 'influxdb.sh');
const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-outage-influx-'));
const sh = (...args: string[]): string =>
  execFileSync('bash', [script, ...args], { encoding: 'utf8' }).trim();

describe('InfluxDB outage during the daemon loop', () => {
  afterAll(() => {
    sh('down', dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs off while the server is down, then finishes every run without doubling a job', async () => {
    const url = sh('up', dir).split('\n').pop() ?? '';
    const port = new URL(url).port;
    const client = new InfluxClient({ url, db: 'outage' });
    await client.createDatabase();
    const runs = Array.from({ length: 6 }, (_, i) => makeRun(391001 + i));
    const e = loopEnv('outage', runs, url);
    const file = writeCampaign(e, {
      campaign: 'o',
      rtypes: { all: { filter: { global: true }, workflows: ['A', 'B'] } },
      workflows: {
        A: { command: loggingCommand('a', 'sleep 1; ') },
        B: { command: loggingCommand('b'), depends_on: ['A'] },
      },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'o', '--range', '391001,391006']);

    const daemon = spawn(process.execPath, [BIN, 'automation', '--daemon', '--interval', '1s'], {
      cwd: e.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    daemon.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const exited = new Promise<number | null>((res) => daemon.on('close', (code) => res(code)));

    // let it submit A, then take the server away while the jobs run
    await waitFor(() => /submitted [1-9]/.test(log), 20_000);
    sh('down', dir);
    await waitFor(() => /infrastructure error/.test(log), 30_000);
    await new Promise((r) => setTimeout(r, 2_000));
    sh('up', dir, port);

    await waitFor(async () => {
      const s = await statusOf(e, 'o').catch(() => undefined);
      return s?.totals.A?.done === 6 && s.totals.B?.done === 6;
    }, 90_000);
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toMatch(/SIGTERM: finishing the current pass/);

    const lines = readFileSync(e.execLog, 'utf8').trim().split('\n');
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines).toHaveLength(12);
  }, 150_000);
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`condition not met within ${ms} ms`);
}
