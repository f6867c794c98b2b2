#!/usr/bin/env node
/**
 * Benchmark of `runctrl inject` against a plain HTTP client writing the same line protocol.
 *
 *   npm run build && npm run bench:inject            (or: node bench/inject.mjs [SIZES…], default 10000 100000)
 *
 * For each size N it writes a synthetic run registry of N runs (temp dir), creates a campaign with 3 run
 * types and 8 workflows in a fresh database, and times the inject use case (the code behind
 * `runctrl inject --range MIN,MAX`: run source, state queries, plan, encoding, batched writes). It records
 * the line protocol inject sent and then POSTs exactly those lines, 5000 a request, to a second fresh
 * database with node's fetch, and prints both times and their ratio (target ≤ 1.3 at 100k runs).
 *
 * Uses RUNCTRL_INFLUXDB_URL when set, otherwise starts a private influxd (scripts/influxdb.sh) and stops
 * it afterwards. Imports the built dist/: run `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { InfluxClient } = await dist('store/influx.js');
const { Store } = await dist('store/store.js');
const { RegistrySource } = await dist('sources/registry.js');
const { createCampaign } = await dist('core/campaigns.js');
const { rtypeCreate, rtypeUpdate } = await dist('core/rtypes.js');
const { inject } = await dist('core/inject.js');

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
if (sizes.length === 0) sizes.push(10_000, 100_000);
const BATCH = 5000;
const FIRST_RUN = 300_000;

/** N runs over 10 eras: all global; 80 % stable beams collisions, 20 % cosmics; various lengths. */
function writeRegistry(dir, n) {
  const runs = [];
  for (let i = 0; i < n; i++) {
    const run = FIRST_RUN + i;
    const beam = i % 5 !== 0;
    const start = 1_700_000_000 + i * 900;
    runs.push({
      run,
      fill: 8000 + Math.floor(i / 20),
      era: `Run2030${String.fromCharCode(65 + Math.floor((i * 10) / n))}`,
      startTime: start,
      endTime: start + 300 + (i % 7) * 600,
      global: true,
      stableBeams: beam,
      runClass: beam ? 'Collisions30' : 'Cosmics30',
      deliveredLumi: beam ? 40 + (i % 13) : 0,
      recordedLumi: beam ? 38 + (i % 13) : 0,
      beamEnergy: beam ? 6800 : 0,
      magnetCurrent: 18164,
      quality: { ecal: i % 11 !== 0, tracker: true, hcal: true },
    });
  }
  const file = path.join(dir, `registry-${n}.json`);
  writeFileSync(file, JSON.stringify(runs));
  return file;
}

/** An InfluxClient that keeps a copy of every line it writes. */
class RecordingClient extends InfluxClient {
  recorded = [];
  async write(lines, onBatch) {
    for (const l of lines) this.recorded.push(l);
    return super.write(lines, onBatch);
  }
}

const cpuSeconds = (u) => (u.user + u.system) / 1e6;

async function plainPost(url, db, lines) {
  const target = `${url}/write?db=${encodeURIComponent(db)}&precision=ns`;
  for (let i = 0; i < lines.length; i += BATCH) {
    const res = await fetch(target, { method: 'POST', body: lines.slice(i, i + BATCH).join('\n') });
    if (res.status !== 204) throw new Error(`plain write: ${res.status} ${await res.text()}`);
  }
}

async function fresh(url, db) {
  const c = new InfluxClient({ url, db });
  await c.dropDatabase().catch(() => undefined);
  await c.createDatabase();
  return c;
}

let started;
let url = process.env.RUNCTRL_INFLUXDB_URL;
if (!url) {
  started = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-influx-'));
  url = execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'up', started], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop();
}
const tmp = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-'));
const results = [];
try {
  console.log(`InfluxDB at ${url}; campaign with 3 run types, 8 workflows; ${BATCH}-line batches`);
  for (const n of sizes) {
    const file = writeRegistry(tmp, n);
    const dbA = `bench_runctrl_${n}`;
    const dbB = `bench_plain_${n}`;
    await fresh(url, dbA);
    await fresh(url, dbB);
    const client = new RecordingClient({ url, db: dbA, timeoutMs: 120_000 });
    const source = new RegistrySource(file);
    const ctx = { store: new Store(client), source: () => source };
    await createCampaign(ctx, { campaign: 'bench' });
    await rtypeUpdate(ctx, {
      campaign: 'bench',
      rtype: 'all',
      add: ['ecal-reco', 'timing-val', 'laser-corr', 'dqm'],
      remove: [],
    });
    await rtypeCreate(ctx, {
      campaign: 'bench',
      rtype: 'stable_beams',
      filter: { global: true, stableBeams: true, minDuration: 600, quality: ['ecal'] },
      workflows: ['pi0-mon', 'eta-mon', 'ic-combi'],
    });
    await rtypeCreate(ctx, {
      campaign: 'bench',
      rtype: 'cosmics',
      filter: { runClass: ['Cosmics30'] },
      workflows: ['cosmic-mon'],
    });
    client.recorded = [];

    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await inject(ctx, {
      campaign: 'bench',
      selector: { range: { min: FIRST_RUN, max: FIRST_RUN + n - 1 } },
      mode: 'missing',
    });
    const tRunctrl = (performance.now() - t0) / 1000;
    const cpuRunctrl = cpuSeconds(process.cpuUsage(cpu0));
    const lines = client.recorded;
    if (lines.length !== r.points)
      throw new Error(`recorded ${lines.length} lines, inject reports ${r.points}`);

    const cpu1 = process.cpuUsage();
    const t1 = performance.now();
    await plainPost(url, dbB, lines);
    const tPlain = (performance.now() - t1) / 1000;
    const cpuPlain = cpuSeconds(process.cpuUsage(cpu1));

    const ratio = tRunctrl / tPlain;
    results.push({ runs: n, lines: lines.length, runctrl: tRunctrl, plain: tPlain, ratio });
    console.log(
      `${String(n).padStart(7)} runs: ${lines.length} lines; runctrl inject ${tRunctrl.toFixed(2)} s, plain HTTP ${tPlain.toFixed(2)} s, ratio ${ratio.toFixed(2)} (client CPU ${cpuRunctrl.toFixed(2)} s vs ${cpuPlain.toFixed(2)} s)`,
    );
    await new InfluxClient({ url, db: dbA }).dropDatabase();
    await new InfluxClient({ url, db: dbB }).dropDatabase();
  }
  const last = results[results.length - 1];
  if (last) console.log(`ratio at ${last.runs} runs: ${last.ratio.toFixed(2)} (target ≤ 1.3)`);
  console.log(`load average during the run: ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  if (started) {
    execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'down', started], { stdio: 'ignore' });
    rmSync(started, { recursive: true, force: true });
  }
}
