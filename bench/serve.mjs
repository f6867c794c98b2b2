#!/usr/bin/env node
/**
 * Benchmark of the dashboard (`runctrl serve`): a campaign of 10k runs × 10 workflows (or --runs N).
 *
 *   npm run build && npm run bench:serve        (or: node bench/serve.mjs [--runs=N])
 *
 * Writes the campaign into a fresh database, starts `runctrl serve` on it (with one event stream open, as a
 * watching page would) and measures: the grid API answer cold (first read of the campaign from InfluxDB)
 * and warm (cached), the first paint of the grid in Debian's Chromium (navigation to the first grid row in
 * the DOM) cold and warm, scrolling the whole grid top to bottom with the long tasks over 100 ms counted
 * (PerformanceObserver 'longtask'), and the server's RSS. Targets: ≤ 1 s warm, ≤ 2 s cold, no long task. Also
 * a grid asked with one workflow named 1500 times, as a ratio to one name, and the overview meanwhile.
 *
 * Uses RUNCTRL_INFLUXDB_URL when set, otherwise starts a private influxd (scripts/influxdb.sh) and stops it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { InfluxClient } = await dist('store/influx.js');
const { Store } = await dist('store/store.js');
const { campaignPoint, rtypePoint, workflowPoint, runInfoPoint, runStatePoint } =
  await dist('store/schema.js');

const runsArg = process.argv.find((a) => a.startsWith('--runs='));
const N = runsArg ? Number(runsArg.slice(7)) : 10_000;
const W = 10;
const STATUSES = ['done', 'done', 'done', 'done', 'done', 'failed', 'processing', 'new', 'reprocess', 'done'];

let url = process.env.RUNCTRL_INFLUXDB_URL;
let started;
if (!url) {
  started = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-influx-'));
  url = execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'up', started], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop();
}
const db = `bench_serve_${process.pid}`;
const client = new InfluxClient({ url, db });
const store = new Store(client);
/** `runctrl serve --port 0` on the bench database; resolves with its URL once it printed it. */
function startServe() {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'runctrl.js'), 'serve', '--port', '0'], {
    env: { ...process.env, RUNCTRL_INFLUXDB_URL: url, RUNCTRL_DB: db },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
      const m = /at (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.on('exit', (code) => reject(new Error(`runctrl serve exited ${code}`)));
  });
}
const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;

try {
  await client.createDatabase();
  const wfs = Array.from({ length: W }, (_, i) => `wf${i}`);
  const spec = (name) => ({
    name,
    command: 'true',
    backend: 'local',
    resources: {},
    dependsOn: [],
    maxRetries: 1,
    granularity: { kind: 'run' },
  });
  const points = [
    campaignPoint('big', 'bench', Date.now()),
    rtypePoint('big', 'all', { global: true }, wfs, []),
    ...wfs.map((w) => workflowPoint('big', spec(w))),
  ];
  for (let i = 0; i < N; i++) {
    const run = 400_000 + i;
    points.push(
      runInfoPoint(
        'big',
        {
          run,
          fill: 9000 + (i >> 5),
          era: `Run2030${String.fromCharCode(65 + Math.floor((i * 8) / N))}`,
          startTime: 1_700_000_000 + i * 900,
          endTime: 1_700_000_600 + i * 900,
          global: true,
          stableBeams: true,
          runClass: 'Collisions30',
          deliveredLumi: 1,
          recordedLumi: 1,
          beamEnergy: 6800,
          magnetCurrent: 18164,
          quality: { ecal: true },
        },
        ['all'],
      ),
    );
    for (let k = 0; k < W; k++)
      points.push(
        runStatePoint('big', {
          run,
          workflow: wfs[k],
          status: STATUSES[(i + k * 3) % 10],
          attempt: 1,
          tries: 1,
          reason: '',
        }),
      );
  }
  let t = performance.now();
  await store.write(points);
  console.log(`campaign 'big': ${N} runs × ${W} workflows written in ${ms(t)} (${points.length} points)`);

  // the real `runctrl serve` process, with one page watching (an open event stream keeps its cache warm)
  const d = await startServe();
  const watch = http.get(`${d.url}api/events`);
  watch.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 1500));
  const gridUrl = `${d.url}api/grid?campaign=big`;
  t = performance.now();
  let body = await (await fetch(gridUrl)).text();
  const apiCold = ms(t);
  t = performance.now();
  body = await (await fetch(gridUrl)).text();
  const apiWarm = ms(t);
  console.log(`grid API: cold ${apiCold}, warm ${apiWarm} (${(body.length / 1024).toFixed(0)} kB)`);

  // a workflow named 1500 times (a 10 kB URL) costs what one name costs; three such at once leave the overview
  // answering (issue 14: 7–18 s of CPU each before, and the overview stalled for 16 s)
  const timed = async (u) => {
    const t0 = performance.now();
    const r = await fetch(u);
    await r.text();
    return { ms: performance.now() - t0, status: r.status };
  };
  const once = await timed(`${gridUrl}&workflow=wf0`);
  const hostileUrl = `${gridUrl}&workflow=${Array(1500).fill('wf0').join(',')}`;
  const hostile = await timed(hostileUrl);
  const [, , , overviewMeanwhile] = await Promise.all([
    timed(hostileUrl),
    timed(hostileUrl),
    timed(hostileUrl),
    timed(`${d.url}api/campaigns`),
  ]);
  console.log(
    `grid with 'wf0' 1500 times: ${hostile.ms.toFixed(0)} ms (HTTP ${hostile.status}), ${(hostile.ms / once.ms).toFixed(1)}× one name; ` +
      `the overview during three of them: ${overviewMeanwhile.ms.toFixed(0)} ms (HTTP ${overviewMeanwhile.status})`,
  );

  const browser = await chromium.launch({
    executablePath: process.env.RUNCTRL_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // a fresh page state on the server: drop the cache by a change (cold = the server reads InfluxDB again)
  await store.write([
    runStatePoint('big', { run: 400_000, workflow: 'wf0', status: 'done', attempt: 1, tries: 1, reason: '' }),
  ]);
  await new Promise((r) => setTimeout(r, 1500));
  const paint = async () => {
    const t0 = performance.now();
    await page.goto(`${d.url}campaign/big`);
    await page.locator('#grid .grid-row').first().waitFor();
    return ms(t0);
  };
  const paintCold = await paint();
  const paintWarm = await paint();
  console.log(`grid first paint in Chromium: cold ${paintCold}, warm ${paintWarm}`);

  // runs in the page (a string, so that the browser globals stay out of this Node script)
  const scroll = await page.evaluate(`(async () => {
    const long = [];
    const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => long.push(e.duration)));
    obs.observe({ type: 'longtask', buffered: false });
    const el = document.getElementById('grid');
    const t0 = performance.now();
    let frames = 0;
    while (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
      el.scrollTop += el.clientHeight * 0.9;
      await new Promise((r) => requestAnimationFrame(() => r()));
      frames++;
    }
    await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    return {
      ms: performance.now() - t0,
      frames,
      over100: long.filter((x) => x > 100).length,
      longest: Math.max(0, ...long),
      last: document.querySelector('#grid .grid-row:last-child')?.getAttribute('data-run'),
    };
  })()`);
  console.log(
    `scroll of the whole grid: ${scroll.frames} screens in ${scroll.ms.toFixed(0)} ms, long tasks > 100 ms: ${scroll.over100} (longest ${scroll.longest.toFixed(0)} ms), last row ${scroll.last}`,
  );
  console.log(
    `server RSS (runctrl serve, holding the campaign): ${(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024).toFixed(0)} MB`,
  );
  console.log(
    `load average: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  await browser.close();
  watch.destroy();
  d.child.kill('SIGTERM');
} finally {
  await client.dropDatabase().catch(() => undefined);
  if (started) {
    execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'down', started], { stdio: 'ignore' });
    rmSync(started, { recursive: true, force: true });
  }
}
