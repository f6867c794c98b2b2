#!/usr/bin/env node
/**
 * Benchmark of retention (issue 15, "Bounded history"): the database size on disk over a simulated year of a
 * prompt campaign, with and without retention.
 *
 *   npm run build && npm run bench:retention
 *   node bench/retention.mjs [--scale 0.25] [--runs 8000] [--workflows 10] [--rounds 3] [--months 12]
 *                            [--retention-days 90] [--keep 20] [--lease-every 60]
 *
 * Per variant (without, then with retention) a private influxd in a temp directory, its compaction forced
 * early (`cache-snapshot-write-cold-duration` and `compact-full-write-cold-duration` of 1 s, so a shard that is
 * no longer written is snapshotted and fully compacted, tombstones applied, within seconds instead of hours).
 * Month by month it writes, with the store's own point builders (dist/store/schema.js) and timestamps spread
 * over a year that ends now, what the daemon would have written: the runs registered that month (runs × scale
 * a year), per run × workflow its status points (new, processing, done) and its job's points (idle, running,
 * done); reprocessing rounds (all runs so far, attempt + 1) at even intervals; and the daemon's own lease claims
 * (one a pass, --lease-every seconds). Then the state is snapshotted (`compact`; with retention, `prune` with
 * the simulated month's end as its clock), compaction is awaited (the data directory's size stable for 3 s)
 * and `du` of the data directory is printed. At the end, every read must be unchanged: the current state
 * (status of every pair, registered runs) of both variants must be the same.
 *
 * The synthetic history is written behind the snapshot's watermark, which a real daemon never does: so the
 * snapshot is dropped before each month's compaction, which then reads the whole history as the fallback does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist', 'core', 'retention.js'))) {
  console.error('bench/retention: dist/ is missing: run `npm run build` first');
  process.exit(2);
}
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const { Store } = await dist('store/store.js');
const schema = await dist('store/schema.js');
const { seriesPrefix, fieldText, KEY_SPACE } = await dist('store/lineproto.js');
const { pruneCampaign } = await dist('core/retention.js');

const DAY = 86_400_000;
const MONTH = 30 * DAY;
const CAMPAIGN = 'prompt';

function parseArgs(argv) {
  const o = {
    scale: 0.25,
    runs: 8000,
    workflows: 10,
    rounds: 3,
    months: 12,
    retentionDays: 90,
    keep: 20,
    leaseEvery: 60,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = (argv[i] ?? '').replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    const v = Number(argv[i + 1]);
    if (!(k in o) || !(v > 0)) {
      console.error(`bench/retention: unknown option or bad value: ${argv[i]} ${argv[i + 1] ?? ''}`);
      process.exit(2);
    }
    o[k] = v;
  }
  o.runs = Math.max(10, Math.round(o.runs * o.scale));
  return o;
}

// ---- a private influxd with early compaction ------------------------------------------------------------------

function freePort() {
  const out = execFileSync('bash', ['-c', `. "${path.join(root, 'scripts', 'ports.sh')}"; free_port`], {
    encoding: 'utf8',
  });
  return Number(out.trim());
}

async function startInflux(dir) {
  const port = freePort();
  const conf = path.join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-enabled = false
bind-address = "127.0.0.1:${port + 2}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
  cache-snapshot-write-cold-duration = "1s"
  compact-full-write-cold-duration = "1s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
`,
  );
  const child = spawn('influxd', ['run', '-config', conf], { stdio: 'ignore', detached: true });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${url}/ping`).then(
        (r) => r.status === 204,
        () => false,
      )
    )
      return { url, child };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('influxd did not start');
}

async function stopInflux(child) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const du = (dir) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;

/** Waits until the data directory's size has not changed for 3 s (compaction done), at most 120 s. */
async function settledSize(dir) {
  let last = -1;
  let same = 0;
  for (let i = 0; i < 120 && same < 3; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const s = du(dir);
    same = s === last ? same + 1 : 0;
    last = s;
  }
  return last;
}

// ---- the synthetic year ---------------------------------------------------------------------------------------

function line(p, ms) {
  const fields = Object.entries(p.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(',');
  const key = ((Math.trunc(p.key) % KEY_SPACE) + KEY_SPACE) % KEY_SPACE;
  return `${seriesPrefix(p)} ${fields} ${Math.trunc(ms)}${String(key).padStart(6, '0')}`;
}

function job(wf, run, attempt, status, submittedAt, time) {
  const name = `rc.${CAMPAIGN}.${wf}.r${run}.a${attempt}`;
  const dir = `/data/runctrl/jobs/${CAMPAIGN}/${wf}/r${run}/a${attempt}`;
  return schema.jobPoint({
    campaign: CAMPAIGN,
    workflow: wf,
    name,
    unit: `r${run}`,
    runs: [run],
    attempt,
    status,
    backend: 'slurm',
    nativeId: String(1_000_000 + run * 10 + attempt),
    stdout: `${dir}/stdout`,
    stderr: `${dir}/stderr`,
    exitCodeFile: `${dir}/exit_code`,
    outputFile: `${dir}/outputs`,
    exitCode: status === 'done' ? 0 : null,
    outputs: status === 'done' ? [`/store/${CAMPAIGN}/${wf}/${run}_a${attempt}.root`] : [],
    reason: '',
    submittedAt,
    unknownSince: 0,
    heldSince: 0,
    time,
  });
}

/** One processing of a pair: status points and its job's points (attempt a), from t on. */
function* processing(lines, wf, run, attempt, t, first) {
  const st = (status, ms, extra = {}) =>
    line(schema.runStatePoint(CAMPAIGN, { run, workflow: wf, status, attempt, tries: 1, ...extra }), ms);
  yield st(first ? 'new' : 'reprocess', t);
  yield st('processing', t + 60_000);
  yield line(job(wf, run, attempt, 'idle', t + 60_000, t + 60_000), t + 60_000);
  yield line(job(wf, run, attempt, 'running', t + 60_000, t + 600_000), t + 600_000);
  yield line(job(wf, run, attempt, 'done', t + 60_000, t + 7_200_000), t + 7_200_000);
  yield st('done', t + 7_200_000, { outputs: [`/store/${CAMPAIGN}/${wf}/${run}_a${attempt}.root`] });
}

function runInfo(run, t) {
  return schema.runInfoPoint(
    CAMPAIGN,
    {
      run,
      fill: 9000 + Math.floor(run / 20),
      era: `Run2026${String.fromCharCode(65 + Math.floor((run % 8000) / 1000))}`,
      startTime: Math.floor(t / 1000) - 3600,
      endTime: Math.floor(t / 1000),
      global: true,
      stableBeams: true,
      runClass: 'Collisions26',
      deliveredLumi: 120.5,
      recordedLumi: 118.25,
      beamEnergy: 6800,
      magnetCurrent: 18164,
      quality: { ecal: true, hcal: true, tracker: true },
    },
    ['physics'],
  );
}

class Year {
  constructor(o, t0) {
    this.o = o;
    this.t0 = t0;
    this.wfs = Array.from({ length: o.workflows }, (_, i) => `w${i}`);
    this.attempt = new Map(); // run → attempt
    // reprocessing rounds at even intervals (e.g. months 3, 6, 9 of 12)
    const every = o.months / (o.rounds + 1);
    this.roundMonths = Array.from({ length: o.rounds }, (_, i) => Math.round(every * (i + 1)));
  }

  config() {
    const t = this.t0;
    return [
      line(schema.campaignPoint(CAMPAIGN, 'prompt processing of a year', t), t),
      line(schema.rtypePoint(CAMPAIGN, 'physics', { global: true }, this.wfs, []), t),
      ...this.wfs.map((w) =>
        line(schema.workflowPoint(CAMPAIGN, { name: w, command: `reco-${w} {run}`, backend: 'slurm' }), t),
      ),
    ];
  }

  /** Every point of month m (1-based), in batches of lines. */
  *month(m) {
    const { runs, months, leaseEvery } = this.o;
    const from = this.t0 + (m - 1) * MONTH;
    const first = Math.round(((m - 1) * runs) / months);
    const last = Math.round((m * runs) / months);
    let batch = [];
    const flush = function* () {
      if (batch.length > 0) yield batch;
      batch = [];
    };
    for (let i = first; i < last; i++) {
      const run = 400_000 + i;
      const t = Math.round(from + ((i - first + 0.5) / (last - first)) * MONTH);
      this.attempt.set(run, 1);
      batch.push(line(runInfo(run, t), t));
      this.wfs.forEach((w, k) => batch.push(...processing(batch, w, run, 1, t + k * 1000, true)));
      if (batch.length >= 5000) yield* flush();
    }
    if (this.roundMonths.includes(m)) {
      // a reprocessing round over every run so far, spread over 5 days from the month's 10th day
      const all = [...this.attempt.keys()];
      all.forEach((run, i) => {
        const a = (this.attempt.get(run) ?? 1) + 1;
        this.attempt.set(run, a);
        const t = Math.round(from + 10 * DAY + (i / all.length) * 5 * DAY);
        this.wfs.forEach((w, k) => batch.push(...processing(batch, w, run, a, t + k * 1000, false)));
      });
      yield* flush();
    }
    for (let t = from; t < from + MONTH; t += leaseEvery * 1000) {
      batch.push(line(schema.leasePoint(CAMPAIGN, 'host1:4242:abcd', t + 600_000), t));
      if (batch.length >= 5000) yield* flush();
    }
    yield* flush();
  }
}

// ---- the variants ---------------------------------------------------------------------------------------------

async function variant(o, withRetention, t0) {
  const dir = mkdtempSync(
    path.join(os.tmpdir(), `runctrl-bench-retention-${withRetention ? 'with' : 'without'}-`),
  );
  const { url, child } = await startInflux(dir);
  const sizes = [];
  let deleted = 0;
  try {
    const store = Store.open({ url, db: 'bench_retention', timeoutMs: 300_000 });
    await store.ensureDatabase();
    const year = new Year(o, t0);
    await store.influx.write(year.config());
    for (let m = 1; m <= o.months; m++) {
      const t1 = Date.now();
      let points = 0;
      for (const b of year.month(m)) {
        await store.influx.write(b);
        points += b.length;
      }
      // the synthetic history lies behind any snapshot's watermark: the snapshot is read again in full
      await store.influx.query('DELETE FROM "snapshot"', {}, { write: true });
      const simNow = t0 + m * MONTH;
      let note = '';
      if (withRetention) {
        const p0 = Date.now();
        const r = await pruneCampaign(store, CAMPAIGN, {
          olderThanMs: o.retentionDays * DAY,
          keep: o.keep,
          now: () => simNow,
        });
        deleted += r.statusPoints + r.jobPoints;
        note = `pruned ${r.statusPoints} status + ${r.jobPoints} job points (${r.ranges} ranges) in ${((Date.now() - p0) / 1000).toFixed(1)} s`;
      } else {
        const st = await store.campaignState(CAMPAIGN);
        await store.writeSnapshot(CAMPAIGN, st, st.readAt);
      }
      const size = await settledSize(path.join(dir, 'data'));
      sizes.push(size);
      console.error(
        `  ${withRetention ? 'with' : 'without'} retention, month ${m}: ${points} points written, ${note || 'compacted'}; data ${mb(size)} MB (${((Date.now() - t1) / 1000).toFixed(1)} s)`,
      );
    }
    const st = await store.campaignState(CAMPAIGN);
    const states = [...st.states.values()].map((s) => JSON.stringify(s)).sort();
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ states, runs: [...st.registered.keys()].sort() }))
      .digest('hex');
    const counts = await store.statusCounts(CAMPAIGN);
    const points = {};
    for (const [m, f] of [
      ['run', 'status'],
      ['job', 'job'],
      ['lease', 'owner'],
      ['runinfo', 'run'],
      ['snapshot', 'gen'],
    ]) {
      const rows = await store.influx.rows(`SELECT count("${f}") FROM "${m}"`);
      points[m] = rows[0]?.count ?? 0;
    }
    return { sizes, deleted, fingerprint, counts, points };
  } finally {
    await stopInflux(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (b) => (b / 1048576).toFixed(1);

const o = parseArgs(process.argv.slice(2));
const t0 = Date.now() - o.months * MONTH - DAY;
console.log(
  `bench/retention: ${o.runs} runs × ${o.workflows} workflows over ${o.months} simulated months, ${o.rounds} reprocessing rounds, a lease claim every ${o.leaseEvery} s; retention ${o.retentionDays} d keeping ${o.keep} status points per pair (load ${os.loadavg()[0].toFixed(1)})`,
);
const started = Date.now();
const without = await variant(o, false, t0);
const withR = await variant(o, true, t0);
console.log('\nmonth  without retention (MB)  with retention (MB)  with / without');
for (let m = 0; m < o.months; m++) {
  const a = without.sizes[m] ?? 0;
  const b = withR.sizes[m] ?? 0;
  console.log(
    `${String(m + 1).padStart(5)}  ${mb(a).padStart(23)}  ${mb(b).padStart(19)}  ${(b / a).toFixed(2).padStart(14)}`,
  );
}
console.log(`\npoints at the end, without retention: ${JSON.stringify(without.points)}`);
console.log(`points at the end, with retention:    ${JSON.stringify(withR.points)}`);
const same =
  without.fingerprint === withR.fingerprint &&
  JSON.stringify(without.counts) === JSON.stringify(withR.counts);
console.log(
  `\npoints deleted by retention: ${withR.deleted}; reads unchanged (every pair's status and the registered runs): ${same ? 'yes' : 'NO'}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`,
);
if (!same) process.exit(1);
