#!/usr/bin/env node
/**
 * Benchmark of `runctrl inject` against a plain HTTP client writing the same line protocol.
 *
 *   npm run build && npm run bench:inject     (or: node bench/inject.mjs [SIZES…] [--repeat=N])
 *
 * Defaults: sizes 10000 and 100000, 3 repetitions (alternating which of the two goes first; the median
 * ratio is reported, as a shared machine makes single timings noisy).
 *
 * For each size N it writes a synthetic run registry of N runs (temp dir), creates a campaign with 3 run
 * types and 8 workflows, and times the inject use case (the code behind `runctrl inject --range MIN,MAX`:
 * run source, state queries, plan, encoding, batched writes) into a fresh database. A first, untimed
 * injection into another database records the line protocol inject sends (one request body per batch, so
 * the recording adds no garbage-collector load to the timed run); the same bodies, 5000 lines each, are
 * then POSTed with node's fetch to a third fresh database. Prints both times, their ratio (target ≤ 1.2
 * at 100k runs) and the client CPU time of each.
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

const args = process.argv.slice(2);
const repeatArg = args.find((a) => a.startsWith('--repeat='));
const REPEAT = repeatArg ? Math.max(1, Number(repeatArg.slice('--repeat='.length)) || 1) : 3;
const sizes = args.map(Number).filter((n) => n > 0);
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

/** An InfluxClient that keeps a copy of every request body it writes. */
class RecordingClient extends InfluxClient {
  bodies = [];
  lines = 0;
  async write(lines, onBatch) {
    for (let i = 0; i < lines.length; i += BATCH) this.bodies.push(lines.slice(i, i + BATCH).join('\n'));
    this.lines += lines.length;
    return super.write(lines, onBatch);
  }
}

/** A campaign with 3 run types and 8 workflows on the given client. */
async function setUp(client, registry) {
  const source = new RegistrySource(registry);
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
  return ctx;
}

const cpuSeconds = (u) => (u.user + u.system) / 1e6;

async function plainPost(url, db, bodies) {
  const target = `${url}/write?db=${encodeURIComponent(db)}&precision=ns`;
  for (const body of bodies) {
    const res = await fetch(target, { method: 'POST', body });
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
    const dbR = `bench_record_${n}`;
    await fresh(url, dbR);
    const selector = { range: { min: FIRST_RUN, max: FIRST_RUN + n - 1 } };

    // untimed: record the request bodies of an identical injection
    const recorder = new RecordingClient({ url, db: dbR, timeoutMs: 120_000 });
    const rctx = await setUp(recorder, file);
    recorder.bodies = [];
    recorder.lines = 0;
    await inject(rctx, { campaign: 'bench', selector, mode: 'missing' });
    await new InfluxClient({ url, db: dbR }).dropDatabase();

    const ratios = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      const dbA = `bench_runctrl_${n}_${rep}`;
      const dbB = `bench_plain_${n}_${rep}`;
      for (const db of [dbA, dbB]) await fresh(url, db);
      const ctx = await setUp(new InfluxClient({ url, db: dbA, timeoutMs: 120_000 }), file);
      const timeRunctrl = async () => {
        const cpu = process.cpuUsage();
        const t = performance.now();
        const r = await inject(ctx, { campaign: 'bench', selector, mode: 'missing' });
        if (recorder.lines !== r.points)
          throw new Error(`recorded ${recorder.lines} lines, inject wrote ${r.points}`);
        return { s: (performance.now() - t) / 1000, cpu: cpuSeconds(process.cpuUsage(cpu)) };
      };
      const timePlain = async () => {
        const cpu = process.cpuUsage();
        const t = performance.now();
        await plainPost(url, dbB, recorder.bodies);
        return { s: (performance.now() - t) / 1000, cpu: cpuSeconds(process.cpuUsage(cpu)) };
      };
      let a;
      let b;
      if (rep % 2 === 0) {
        a = await timeRunctrl();
        b = await timePlain();
      } else {
        b = await timePlain();
        a = await timeRunctrl();
      }
      const ratio = a.s / b.s;
      ratios.push(ratio);
      console.log(
        `${String(n).padStart(7)} runs (${recorder.lines} lines), #${rep + 1}: runctrl inject ${a.s.toFixed(2)} s, plain HTTP ${b.s.toFixed(2)} s, ratio ${ratio.toFixed(2)} (client CPU ${a.cpu.toFixed(2)} s vs ${b.cpu.toFixed(2)} s)`,
      );
      for (const db of [dbA, dbB]) await new InfluxClient({ url, db }).dropDatabase();
    }
    const median = [...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 2)] ?? NaN;
    results.push({ runs: n, ratio: median });
    console.log(`${String(n).padStart(7)} runs: median ratio ${median.toFixed(2)}`);
  }
  const last = results[results.length - 1];
  if (last) console.log(`median ratio at ${last.runs} runs: ${last.ratio.toFixed(2)} (target ≤ 1.2)`);
  console.log(`load average during the run: ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  if (started) {
    execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'down', started], { stdio: 'ignore' });
    rmSync(started, { recursive: true, force: true });
  }
}
