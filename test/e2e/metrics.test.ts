/**
 * Prometheus metrics of the loop, scraped by a real Prometheus (Debian's package, scripts/prometheus.sh) on
 * 127.0.0.1: `automation --daemon --metrics 0 --serve 0` runs a small campaign on the local backend; promtool
 * accepts the exposition of both ports; Prometheus's query API shows the unit counters at 0 before the runs are
 * injected and at their final values after; /healthz answers 200 with a one-line JSON reason. `serve` exposes
 * /metrics and /healthz too.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { ROOT } from '../helpers/ctx.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, writeCampaign, type LoopEnv } from '../helpers/loop.js';

const RUNS = [392001, 392002, 392003, 392004];
const CAMPAIGN = 'metrics_c';
const SCRIPT = path.join(ROOT, 'scripts', 'prometheus.sh');

/** Spawns the CLI and resolves once stderr matched every pattern (their first groups returned). */
function started(
  e: LoopEnv,
  args: string[],
  patterns: RegExp[],
): Promise<{ child: ChildProcess; found: string[]; output: () => string; stop: () => Promise<number> }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: e.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  return new Promise((resolve, reject) => {
    let out = '';
    const look = (d: string): void => {
      out += d;
      const found = patterns.map((p) => p.exec(out)?.[1]);
      if (found.every((f) => f !== undefined))
        resolve({
          child,
          found: found as string[],
          output: () => out,
          stop: () => (child.kill('SIGTERM'), exited),
        });
    };
    child.stderr.setEncoding('utf8').on('data', look);
    child.stdout.setEncoding('utf8').on('data', look);
    void exited.then((code) => reject(new Error(`runctrl exited (${code}): ${out}`)));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function promtool(args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The value of a PromQL expression that yields one sample (undefined while it yields none). */
async function queryOne(prom: string, expr: string): Promise<number | undefined> {
  const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const j = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  if (j.status !== 'success') throw new Error(`query ${expr}: ${JSON.stringify(j)}`);
  const v = j.data.result[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

describe('Prometheus metrics of the daemon, scraped by a real Prometheus', () => {
  const db = freshDb('metrics');
  const promDir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-prom-'));
  let e: LoopEnv;
  let daemon: Awaited<ReturnType<typeof started>> | undefined;
  let metricsUrl = '';
  let dashboardUrl = '';
  let prom = '';

  beforeAll(async () => {
    execFileSync('bash', [SCRIPT, 'install'], { stdio: 'ignore' });
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
    writeCampaign(
      e,
      {
        campaign: CAMPAIGN,
        rtypes: { all: { filter: { global: true }, workflows: ['A', 'B', 'F'] } },
        workflows: {
          A: { command: loggingCommand('a'), backend: 'local' },
          B: { command: loggingCommand('b'), backend: 'local', depends_on: ['A'] },
          F: { command: 'exit 3', backend: 'local', max_retries: 0 },
        },
      },
      'c.json',
    );
    await ok(e, ['apply', path.join(e.dir, 'c.json')]);
    daemon = await started(
      e,
      [
        'automation',
        '--daemon',
        '--interval',
        '2s',
        '-c',
        CAMPAIGN,
        '--metrics',
        '0',
        '--serve',
        '0',
        '--retention',
        '90d',
      ],
      [/metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/, /dashboard at (http:\/\/127\.0\.0\.1:\d+)/],
    );
    [metricsUrl = '', dashboardUrl = ''] = daemon.found;
    const target = new URL(metricsUrl).host;
    prom =
      execFileSync('bash', [SCRIPT, 'up', promDir, target], { encoding: 'utf8' }).trim().split('\n').pop() ??
      '';
  }, 120_000);

  afterAll(async () => {
    if (daemon) expect(await daemon.stop()).toBe(0);
    execFileSync('bash', [SCRIPT, 'down', promDir], { stdio: 'ignore' });
    rmSync(promDir, { recursive: true, force: true });
  });

  it('promtool accepts the exposition; Prometheus sees the counters move through a run; /healthz is 200', async () => {
    // the target is scraped (Prometheus batches discovery: about 5 s after its start)
    await until('the target to be up', async () => {
      const j = (await (await fetch(`${prom}/api/v1/targets`)).json()) as {
        data: { activeTargets: { health: string }[] };
      };
      return j.data.activeTargets.some((t) => t.health === 'up') ? true : undefined;
    });
    const done = `sum(runctrl_units_done_total{campaign="${CAMPAIGN}"})`;
    const failed = `sum(runctrl_units_failed_total{campaign="${CAMPAIGN}"})`;
    const submitted = `sum(runctrl_units_submitted_total{campaign="${CAMPAIGN}"})`;
    // before any run: the counters exist (per campaign × workflow) at 0
    expect(await until('a first scrape', () => queryOne(prom, done))).toBe(0);
    expect(await queryOne(prom, submitted)).toBe(0);

    await ok(e, ['inject', '--campaign', CAMPAIGN, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
    const n = RUNS.length;
    await until(
      'done and failed counters at their final values',
      async () => {
        const [d, f] = [await queryOne(prom, done), await queryOne(prom, failed)];
        return d === 2 * n && f === n ? true : undefined;
      },
      120_000,
    );
    expect(await queryOne(prom, submitted)).toBe(3 * n);
    expect(await queryOne(prom, `runctrl_units_failed_total{campaign="${CAMPAIGN}",workflow="F"}`)).toBe(n);
    expect(await queryOne(prom, `runctrl_lease_held{campaign="${CAMPAIGN}"}`)).toBe(1);
    expect(await queryOne(prom, 'sum(runctrl_passes_total{outcome="ok"})')).toBeGreaterThan(1);
    expect(await queryOne(prom, 'sum(runctrl_pass_duration_seconds_count)')).toBeGreaterThan(1);
    expect(await queryOne(prom, 'sum(runctrl_influxdb_requests_total{outcome="ok"})')).toBeGreaterThan(10);
    expect(await queryOne(prom, 'runctrl_infrastructure_errors_in_a_row')).toBe(0);
    expect(await queryOne(prom, 'time() - runctrl_last_successful_pass_timestamp_seconds')).toBeLessThan(60);
    expect(await queryOne(prom, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // every label stays bounded: no run number anywhere
    const text = await (await fetch(metricsUrl)).text();
    expect(text).not.toMatch(/39200\d/);

    for (const url of [metricsUrl, `${dashboardUrl}/metrics`]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const check = promtool(['check', 'metrics'], await res.text());
      expect(check.code, check.out).toBe(0);
    }
    for (const url of [metricsUrl.replace(/metrics$/, 'healthz'), `${dashboardUrl}/healthz`]) {
      const res = await fetch(url);
      const body = await res.text();
      expect(res.status, body).toBe(200);
      expect(body.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(body)).toMatchObject({
        status: 'ok',
        reason: expect.stringMatching(/last successful pass/),
      });
    }
    expect((await fetch(metricsUrl.replace(/metrics$/, 'other'))).status).toBe(404);
    // --retention: pruned after a full pass, on the campaign whose lease the daemon holds (nothing is 90 days old)
    expect(daemon?.output()).toMatch(
      new RegExp(`retention: campaign ${CAMPAIGN}: 0 status point\\(s\\) and 0 job point\\(s\\)`),
    );
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(405);
  }, 240_000);

  it('serve: /metrics (process and InfluxDB requests) and /healthz on its port', async () => {
    const s = await started(e, ['serve', '--port', '0'], [/at (http:\/\/127\.0\.0\.1:\d+)\//]);
    try {
      const base = s.found[0] ?? '';
      await fetch(`${base}/api/campaigns`);
      const text = await (await fetch(`${base}/metrics`)).text();
      const check = promtool(['check', 'metrics'], text);
      expect(check.code, check.out).toBe(0);
      expect(text).toMatch(/^runctrl_influxdb_requests_total\{kind="query",outcome="ok"\} [1-9]/m);
      const h = await fetch(`${base}/healthz`);
      expect(h.status).toBe(200);
      expect(JSON.parse(await h.text())).toMatchObject({ status: 'ok' });
    } finally {
      expect(await s.stop()).toBe(0);
    }
  }, 60_000);
});
