#!/usr/bin/env node
/**
 * Benchmark of the automation loop's state reads (issue 3, "Performance").
 *
 *   npm run build && npm run bench:cycle
 *   node --expose-gc bench/cycle.mjs [--campaigns 5] [--runs 10000] [--workflows 10] [--jobs 50]
 *                                    [--history 3] [--reps 5] [--db NAME]
 *
 * Builds, through the store's point builders (dist/store/schema.js) and Store.write, the state of C campaigns
 * × R runs with W workflows each: campaign definitions, R registered runs, and per run × workflow a short
 * history (--history 3: new → processing → done; 2: processing → done; 1: done only) for most runs,
 * new → processing with a job in flight for a few, new for the last ones; and a few jobs per campaign
 * (intent, native id, running). Then it measures, with the real code:
 *
 *  (a) the first full load of one campaign's state as the pass does it (Store.runStates + registeredRuns +
 *      jobs, in parallel) against plain HTTP (node's fetch + JSON.parse) `SELECT *` of the same points:
 *      ratio, target ≤ 1.5; and where the time of the run-state read goes (HTTP + JSON, row objects,
 *      decoding);
 *  (b) an incremental pass over all campaigns in which little changed: the reads with `since` (the last pass
 *      minus an overlap window): Store.runStates(c, {since}), registeredRuns(c, {since}), jobs(c, {since}):
 *      total InfluxDB time across the campaigns (target ≤ 200 ms), queries per campaign, the floor of one
 *      request (the same query reading nothing), what InfluxDB did (EXPLAIN ANALYZE), and a check that the
 *      first load merged with the incremental reads equals a fresh full load;
 *  (c) the peak RSS of a fresh process holding every campaign's state as a loop does (Store.campaignState into
 *      StateTables; target ≤ 150 MB): through the snapshots (after (d)'s compact), then with every pair read in
 *      full; and, for reference, without a snapshot (the fallback) and as Maps of objects (before issue 8);
 *  (d) issue 8: after `runctrl compact` (once the snapshot overlap window has passed over the built history) and
 *      a little change, fresh processes spawning bin/runctrl.js — `automation --once --dry-run`, `list`,
 *      `status -c` (latest 50) and `status -c --json` — wall time and peak RSS (/usr/bin/time), medians of
 *      --reps; then the history doubled (another round of transitions on every pair) and the same again, with
 *      the ratios against the targets (0.5 s, 150 MB; 0.5 s; 0.5 s; 1.5 s) and doubled / as built.
 *
 * Uses RUNCTRL_INFLUXDB_URL when set (in a fresh database, dropped at the end), otherwise starts a private
 * influxd (scripts/influxdb.sh up, temp dir) and stops it afterwards. --db NAME uses and keeps that database
 * (the state is built only if it has no campaign yet), to measure again without rebuilding. Timings are
 * wall-clock: the load average is printed, as other processes on the machine inflate them. BENCH_EXPLAIN=1
 * prints the EXPLAIN ANALYZE trees. Imports the built dist/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist', 'store', 'store.js'))) {
  console.error('bench/cycle: dist/ is missing: run `npm run build` first');
  process.exit(2);
}
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const { Store, SNAPSHOT_OVERLAP_MS } = await dist('store/store.js');
const schema = await dist('store/schema.js');

const TARGET = { loadRatio: 1.5, incrementalMs: 200, rssMb: 150 };
/** Issue 8: fresh processes, as an operator or cron runs them (wall ms, RSS MB). */
const FRESH_TARGET = {
  once: { ms: 500, rssMb: 150 },
  list: { ms: 500 },
  status: { ms: 500 },
  statusJson: { ms: 1500 },
};
/** The overlap window of incremental reads: points written up to this long before the last pass are re-read. */
const OVERLAP_MS = 3_000;
const FIRST_RUN = 400_000;
const RUN_FIELDS = `"run", "status", "attempt", "tries", "outputs", "output_list", "reason", "inputs_from"`;

function parseArgs(argv) {
  const o = { campaigns: 5, runs: 10_000, workflows: 10, jobs: 50, history: 3, reps: 5 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i] ?? '';
    const v = argv[i + 1];
    if (k === '--db' && v) {
      o.db = v;
      i++;
    } else if (k === '--child-load') {
      o.child = { url: v, db: argv[i + 2], campaigns: (argv[i + 3] ?? '').split(','), how: argv[i + 4] };
      i += 4;
    } else if (k.startsWith('--') && k.slice(2) in o && Number.isInteger(Number(v)) && Number(v) > 0) {
      o[k.slice(2)] = Number(v);
      i++;
    } else {
      console.error(`bench/cycle: bad argument ${k} ${v ?? ''} (see the header of bench/cycle.mjs)`);
      process.exit(2);
    }
  }
  o.history = Math.min(3, o.history);
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => `${x.toFixed(1)} ms`;
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const verdict = (ok) => (ok ? 'OK' : 'MISSED');
const load = () => os.loadavg()[0].toFixed(1);

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

/** The full load of one campaign, as pass.ts step 2 does it. */
async function fullLoad(store, c) {
  const [states, registered, jobs] = await Promise.all([
    store.runStates(c),
    store.registeredRuns(c),
    store.jobs(c),
  ]);
  return { states, registered, jobs };
}

/**
 * What-if: the same three queries and the store's own decoders, with rows built without `{ ...tags }`
 * (InfluxClient.rows spreads the series tags into every row object, which V8 makes slow and large).
 */
function plainRows(series) {
  const out = [];
  for (const s of series) {
    const tagKeys = Object.keys(s.tags);
    const cols = s.columns;
    for (const v of s.values) {
      const row = {};
      for (const k of tagKeys) row[k] = s.tags[k];
      for (let i = 0; i < cols.length; i++) row[cols[i]] = v[i] ?? null;
      out.push(row);
    }
  }
  return out;
}

async function fullLoadPlainRows(store, c) {
  const rows = (q) => store.influx.query(q, { c }).then(plainRows);
  const [sr, gr, jr] = await Promise.all([
    rows(`SELECT ${RUN_FIELDS} FROM "run" WHERE "campaign" = $c GROUP BY "workflow"`),
    rows(`SELECT * FROM "runinfo" WHERE "campaign" = $c`),
    rows(`SELECT * FROM "job" WHERE "campaign" = $c GROUP BY "workflow"`),
  ]);
  const states = new Map();
  for (const r of sr) {
    const x = schema.decodeRunState(r);
    states.set(schema.stateKey(x.run, x.workflow), x);
  }
  const registered = new Map();
  for (const r of gr) {
    const x = schema.decodeRunInfo(r);
    registered.set(x.run, x);
  }
  const jobs = new Map();
  for (const r of jr) {
    const x = schema.decodeJob(r);
    jobs.set(x.name, x);
  }
  return { states, registered, jobs };
}

const o = parseArgs(process.argv.slice(2));

// (c) runs in a fresh child process, so that building the state does not weigh on the figure -----------
if (o.child) {
  const store = Store.open({ url: o.child.url, db: o.child.db, timeoutMs: 600_000 });
  const gc = globalThis.gc ?? (() => undefined);
  await store.influx.ping();
  gc();
  const before = process.memoryUsage();
  const t = performance.now();
  const held = [];
  const how = o.child.how;
  // 'objects': the three reads as Maps of objects; otherwise what a loop holds (StateCache): Store.campaignState,
  // through the newest snapshot when there is one, else the full read folded into a StateTable
  const loader = how === 'objects' ? fullLoad : (st, c) => st.campaignState(c);
  for (const c of o.child.campaigns) held.push(await loader(store, c));
  let via = [...new Set(held.map((h) => h.via ?? 'objects'))].join('/');
  if (how === 'all-read') {
    // every pair and registered run read in full once, as a loop that lived long enough would have
    for (const h of held) {
      for (const x of h.states.values()) if (x.run < 0) throw new Error('bad run');
      for (const x of h.registered.values()) if (x.run < 0) throw new Error('bad run');
    }
    via += ', every pair read in full';
  }
  const loadMs = performance.now() - t;
  const loaded = process.memoryUsage();
  gc();
  const settled = process.memoryUsage();
  process.stdout.write(
    JSON.stringify({
      before: before.rss,
      heapBefore: before.heapUsed,
      rss: loaded.rss,
      rssAfterGc: settled.rss,
      heapUsed: settled.heapUsed,
      maxRss: process.resourceUsage().maxRSS * 1024,
      pairs: held.reduce((n, h) => n + h.states.size, 0),
      loadMs,
      via,
      gc: globalThis.gc !== undefined,
    }),
  );
  process.exit(0);
}

// the state ------------------------------------------------------------------------------------------
const campaigns = Array.from({ length: o.campaigns }, (_, i) => `bench${i}`);
const workflows = Array.from({ length: o.workflows }, (_, i) => `wf${i}`);
/** Runs 0 … DONE-1 done, DONE … FLIGHT-1 processing with a job in flight, the rest new. */
const FLIGHT = o.runs - Math.min(o.runs, Math.max(1, Math.floor(o.runs / 200)));
const DONE = Math.max(0, FLIGHT - Math.max(1, Math.ceil(o.jobs / o.workflows)));
const runNo = (i) => FIRST_RUN + i;

function runInfo(i) {
  const beam = i % 5 !== 0;
  return {
    run: runNo(i),
    fill: 9000 + Math.floor(i / 25),
    era: `Run2031${String.fromCharCode(65 + Math.min(25, Math.floor(i / 1000)))}`,
    startTime: 1_800_000_000 + i * 1200,
    endTime: 1_800_000_900 + i * 1200,
    global: true,
    stableBeams: beam,
    runClass: beam ? 'Collisions31' : 'Cosmics31',
    deliveredLumi: beam ? 50 + (i % 17) : 0,
    recordedLumi: beam ? 48 + (i % 17) : 0,
    beamEnergy: beam ? 6800 : 0,
    magnetCurrent: 18164,
    quality: { ecal: i % 13 !== 0, tracker: true },
  };
}

function job(c, w, i, status, nativeId, t) {
  const run = runNo(i);
  const dir = `/scratch/runctrl/${c}/${w}/r${run}/a1`;
  return {
    campaign: c,
    workflow: w,
    name: `rc.${c}.${w}.r${run}.a1`,
    unit: `r${run}`,
    runs: [run],
    attempt: 1,
    status,
    backend: 'slurm',
    nativeId,
    stdout: `${dir}/stdout`,
    stderr: `${dir}/stderr`,
    exitCodeFile: `${dir}/exit_code`,
    outputFile: `${dir}/outputs`,
    exitCode: status === 'done' ? 0 : null,
    outputs: status === 'done' ? [`/eos/${c}/${w}/${run}.root`] : [],
    reason: '',
    submittedAt: t,
    unknownSince: 0,
    heldSince: 0,
    time: t,
  };
}

/** The pairs with a job in flight (at most --jobs of them). */
function jobPairs() {
  const out = [];
  for (let i = DONE; i < FLIGHT && out.length < o.jobs; i++)
    for (const w of workflows) if (out.length < o.jobs) out.push({ i, w });
  return out;
}

/** Writes the state of one campaign in the order it would have happened; returns the number of points. */
async function buildCampaign(store, c) {
  let n = 0;
  const put = async (points) => {
    n += points.length;
    await store.write(points);
  };
  await put([
    schema.campaignPoint(c, 'bench campaign', Date.now()),
    schema.rtypePoint(c, 'all', {}, workflows, []),
    ...workflows.map((w) =>
      schema.workflowPoint(c, {
        name: w,
        command: 'process --run {run} --out {outdir}',
        backend: 'slurm',
        resources: { cpus: 1, memoryMb: 2000 },
        dependsOn: [],
        maxRetries: 2,
        granularity: { kind: 'run' },
      }),
    ),
  ]);
  const SLICE = 2_000;
  for (let lo = 0; lo < o.runs; lo += SLICE) {
    const hi = Math.min(o.runs, lo + SLICE);
    const pts = [];
    for (let i = lo; i < hi; i++) pts.push(schema.runInfoPoint(c, runInfo(i), ['all']));
    await put(pts);
    // one write per step of the life cycle, so each pair's points are in time order
    const phase = (status, from, upTo, extra) => {
      const out = [];
      for (let i = Math.max(lo, from); i < Math.min(hi, upTo); i++)
        for (const w of workflows)
          out.push(schema.runStatePoint(c, { run: runNo(i), workflow: w, status, ...extra(i, w) }));
      return out;
    };
    const fresh = () => ({ attempt: 0, tries: 0 });
    const submitted = () => ({ attempt: 1, tries: 1 });
    const done = (i, w) => ({ attempt: 1, tries: 1, outputs: [`/eos/${c}/${w}/${runNo(i)}.root`] });
    await put(phase('new', o.history >= 3 ? 0 : DONE, hi, fresh));
    await put(phase('processing', o.history >= 2 ? 0 : DONE, FLIGHT, submitted));
    await put(phase('done', 0, DONE, done));
  }
  const t = Date.now();
  const js = jobPairs();
  await put(js.map(({ i, w }) => schema.jobPoint(job(c, w, i, 'idle', '', t))));
  await put(js.map(({ i, w }, k) => schema.jobPoint(job(c, w, i, 'idle', String(1_000_000 + k), t))));
  await put(js.map(({ i, w }, k) => schema.jobPoint(job(c, w, i, 'running', String(1_000_000 + k), t))));
  return n;
}

/** What changes between two passes: a few jobs finish, a few runs are registered. */
async function littleChange(store, c) {
  const js = jobPairs().slice(0, 5);
  const t = Date.now();
  const newRuns = [0, 1, 2, 3, 4].map((k) => o.runs + k);
  await store.write([
    ...js.map(({ i, w }, k) => schema.jobPoint(job(c, w, i, 'done', String(1_000_000 + k), t))),
    ...js.map(({ i, w }) =>
      schema.runStatePoint(c, {
        run: runNo(i),
        workflow: w,
        status: 'done',
        attempt: 1,
        tries: 1,
        outputs: [`/eos/${c}/${w}/${runNo(i)}.root`],
      }),
    ),
    ...newRuns.map((i) => schema.runInfoPoint(c, runInfo(i), ['all'])),
    ...newRuns.flatMap((i) =>
      workflows.map((w) =>
        schema.runStatePoint(c, { run: runNo(i), workflow: w, status: 'new', attempt: 0, tries: 0 }),
      ),
    ),
  ]);
  return {
    states: js.length + newRuns.length * workflows.length,
    registered: newRuns.length,
    jobs: js.length,
  };
}

// plain HTTP -----------------------------------------------------------------------------------------

async function rawQuery(url, db, q, chunked) {
  const params = new URLSearchParams({ db, q, epoch: 'ms' });
  if (chunked) {
    params.set('chunked', 'true');
    params.set('chunk_size', '10000');
  }
  const res = await fetch(`${url}/query?${params}`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`raw query: ${res.status} ${body.slice(0, 200)}`);
  let rows = 0;
  for (const line of chunked ? body.split('\n') : [body]) {
    if (line.trim() === '') continue;
    for (const r of JSON.parse(line).results ?? []) for (const s of r.series ?? []) rows += s.values.length;
  }
  return rows;
}

/** What the storage engine touched, from EXPLAIN ANALYZE (InfluxDB ≥ 1.4). */
async function explain(url, db, q) {
  const res = await fetch(`${url}/query?${new URLSearchParams({ db, q: `EXPLAIN ANALYZE ${q}` })}`);
  const j = await res.json();
  const text = (j.results?.[0]?.series?.[0]?.values ?? []).map((v) => String(v[0])).join('\n');
  const sum = (re) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    total: /total_time: (\S+)/.exec(text)?.[1] ?? '?',
    cursors: sum(/cursors_(?:ref|aux|cond): (\d+)/g),
    blocks: sum(/_blocks_decoded: (\d+)/g),
    blockBytes: sum(/_blocks_size_bytes: (\d+)/g),
    text,
  };
}

// main -----------------------------------------------------------------------------------------------

// (d) fresh processes ----------------------------------------------------------------------------------

const BIN = path.join(root, 'bin', 'runctrl.js');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Spawns bin/runctrl.js as an operator would; wall ms and peak RSS (bytes, via /usr/bin/time when present). */
function spawnCli(url, db, args, stateDir) {
  return new Promise((resolve, reject) => {
    const rssFile = path.join(stateDir, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const argv = TIME ? ['-f', '%M', '-o', rssFile, process.execPath, BIN, ...args] : [BIN, ...args];
    const t = performance.now();
    const p = spawn(TIME ?? process.execPath, argv, {
      env: { ...process.env, RUNCTRL_INFLUXDB_URL: url, RUNCTRL_DB: db, RUNCTRL_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const ms = performance.now() - t;
      if (code !== 0)
        return reject(new Error(`runctrl ${args.join(' ')} exited with ${code}: ${err.trim()}`));
      let rss = NaN;
      if (TIME) {
        rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) * 1024;
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, rss, bytes: out.length });
    });
  });
}

const FRESH = [
  {
    key: 'once',
    label: 'automation --once --dry-run',
    args: () => ['automation', '--once', '--dry-run', '--json'],
  },
  { key: 'list', label: 'list', args: () => ['list'] },
  { key: 'status', label: 'status -c C (latest 50)', args: (c) => ['status', '-c', c] },
  {
    key: 'statusJson',
    label: 'status -c C --json (all)',
    args: (c) => ['status', '-c', c, '--json'],
  },
];

/** Medians of o.reps fresh processes of each command (after one untimed warm-up of each). */
async function freshCommands(url, db, c0) {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-fresh-'));
  try {
    const out = {};
    for (const f of FRESH) {
      await spawnCli(url, db, f.args(c0), stateDir);
      const runs = [];
      for (let r = 0; r < o.reps; r++) runs.push(await spawnCli(url, db, f.args(c0), stateDir));
      out[f.key] = { ms: median(runs.map((x) => x.ms)), rss: median(runs.map((x) => x.rss)) };
    }
    return out;
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * Snapshots of every campaign, as the loop leaves them (runctrl compact), then a little change after them. The
 * history was written moments ago, where months would have passed: the snapshot is taken once the overlap window
 * (points that may still arrive late, read again on top of every snapshot) has passed over it, as in real use.
 */
async function compactThenChange(url, db, store) {
  await sleep(SNAPSHOT_OVERLAP_MS + 1_000);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-compact-'));
  try {
    const t = await spawnCli(url, db, ['compact'], stateDir);
    for (const c of campaigns) await littleChange(store, c);
    return t;
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function freshLines(label, f, line) {
  line(`    ${label}:`);
  for (const x of FRESH) {
    const v = f[x.key];
    const tgt = FRESH_TARGET[x.key];
    const rssPart = Number.isNaN(v.rss) ? '' : `, RSS ${mb(v.rss)}`;
    const rssTgt = tgt.rssMb ? `, RSS ratio ${(v.rss / (tgt.rssMb * 1024 * 1024)).toFixed(2)}` : '';
    line(
      `      ${x.label.padEnd(30)} ${fmt(v.ms).padStart(10)}${rssPart}  ratio to target ${(v.ms / tgt.ms).toFixed(2)}${rssTgt} (${verdict(v.ms <= tgt.ms && (!tgt.rssMb || !(v.rss > tgt.rssMb * 1024 * 1024)))})`,
    );
  }
}

function freshOk(f) {
  return FRESH.every((x) => {
    const tgt = FRESH_TARGET[x.key];
    return f[x.key].ms <= tgt.ms && (!tgt.rssMb || !(f[x.key].rss > tgt.rssMb * 1024 * 1024));
  });
}

async function main(url, db, store) {
  const version = await store.influx.ping();
  console.log(
    `bench/cycle: InfluxDB ${version} at ${url}, database ${db}; ${os.cpus().length} CPUs, load average ${load()}`,
  );
  const perPair = { 1: 'done', 2: 'processing → done', 3: 'new → processing → done' }[o.history];
  console.log(
    `state: ${o.campaigns} campaigns × ${o.runs} runs × ${o.workflows} workflows; per campaign ${DONE} runs ${perPair}, ${FLIGHT - DONE} processing with ${jobPairs().length} jobs in flight, ${o.runs - FLIGHT} new`,
  );
  await store.ensureDatabase();

  if (o.db !== undefined && (await store.campaigns()).length > 0) {
    console.log(`reusing the state already in database ${db}`);
  } else {
    const b = await timed(async () => {
      let n = 0;
      for (let k = 0; k < campaigns.length; k += 2) {
        const built = await Promise.all(campaigns.slice(k, k + 2).map((c) => buildCampaign(store, c)));
        n += built.reduce((x, y) => x + y, 0);
      }
      return n;
    });
    const rate = Math.round(b.value / (b.ms / 1000));
    console.log(`built: ${b.value} points in ${(b.ms / 1000).toFixed(1)} s (${rate} points/s)`);
  }

  // the first pass loads everything; a little changes after it
  await sleep(OVERLAP_MS + 500);
  const lastPass = Date.now();
  const since = lastPass - OVERLAP_MS;
  const c0 = campaigns[0];
  const first = await fullLoad(store, c0);
  const changed = [];
  for (const c of campaigns) changed.push(await littleChange(store, c));

  // (a) ----------------------------------------------------------------------------------------------
  const m = {
    store: [],
    plainRows: [],
    rawPlain: [],
    rawChunked: [],
    rawRun: [],
    query: [],
    rows: [],
    states: [],
    plainRowsCpu: [],
  };
  let rawPoints = 0;
  let runPoints = 0;
  const runQ = `SELECT ${RUN_FIELDS} FROM "run" WHERE "campaign" = $c GROUP BY "workflow"`;
  const same = ['run', 'runinfo', 'job'].map((x) => `SELECT * FROM "${x}" WHERE "campaign" = '${c0}'`);
  for (let r = 0; r < o.reps; r++) {
    m.store.push((await timed(() => fullLoad(store, c0))).ms);
    m.plainRows.push((await timed(() => fullLoadPlainRows(store, c0))).ms);
    const plain = await timed(() => Promise.all(same.map((q) => rawQuery(url, db, q, false))));
    m.rawPlain.push(plain.ms);
    rawPoints = plain.value.reduce((x, y) => x + y, 0);
    m.rawChunked.push((await timed(() => Promise.all(same.map((q) => rawQuery(url, db, q, true))))).ms);
    const run = await timed(() => rawQuery(url, db, same[0], true));
    m.rawRun.push(run.ms);
    runPoints = run.value;
    // where the run-state read goes, on one answer: HTTP + JSON (InfluxClient.query), then the real rows()
    // and runStates() fed that answer without the network
    const answer = await timed(() => store.influx.query(runQ, { c: c0 }));
    m.query.push(answer.ms);
    store.influx.query = async () => answer.value;
    try {
      m.rows.push((await timed(() => store.influx.rows(runQ, { c: c0 }))).ms);
      m.states.push((await timed(() => store.runStates(c0))).ms);
      m.plainRowsCpu.push(
        (
          await timed(async () => {
            const out = new Map();
            for (const r of plainRows(answer.value)) {
              const x = schema.decodeRunState(r);
              out.set(schema.stateKey(x.run, x.workflow), x);
            }
            return out;
          })
        ).ms,
      );
    } finally {
      delete store.influx.query;
    }
  }
  const a = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  const raw = Math.min(a.rawPlain, a.rawChunked);

  // (b) ----------------------------------------------------------------------------------------------
  const inc = {
    total: [],
    wall: [],
    runStates: [],
    registeredRuns: [],
    jobs: [],
    floor: [],
    fixed: [],
    allCampaigns: [],
  };
  // what-if: the same since-reads for every campaign at once (3 queries a pass, whatever the campaigns)
  const allSince = [
    `SELECT ${RUN_FIELDS} FROM "run" WHERE time > ${Math.trunc(since)}ms GROUP BY "campaign", "workflow"`,
    `SELECT * FROM "runinfo" WHERE time > ${Math.trunc(since)}ms GROUP BY "campaign"`,
    `SELECT * FROM "job" WHERE time > ${Math.trunc(since)}ms GROUP BY "campaign", "workflow"`,
  ];
  let allRows = 0;
  let queriesPerCampaign = 0;
  let sizes = [];
  const later = Date.now() + 3_600_000;
  for (let r = 0; r < o.reps; r++) {
    let total = 0;
    const q0 = store.influx.stats.queries;
    sizes = [];
    for (const c of campaigns) {
      const s = await timed(() => store.runStates(c, { since }));
      const g = await timed(() => store.registeredRuns(c, { since }));
      const j = await timed(() => store.jobs(c, { since }));
      inc.runStates.push(s.ms);
      inc.registeredRuns.push(g.ms);
      inc.jobs.push(j.ms);
      total += s.ms + g.ms + j.ms;
      sizes.push({ states: s.value.size, registered: g.value.size, jobs: j.value.size });
    }
    queriesPerCampaign = (store.influx.stats.queries - q0) / campaigns.length;
    inc.total.push(total);
    const wall = await timed(async () => {
      for (const c of campaigns)
        await Promise.all([
          store.runStates(c, { since }),
          store.registeredRuns(c, { since }),
          store.jobs(c, { since }),
        ]);
    });
    inc.wall.push(wall.ms);
    inc.floor.push((await timed(() => store.runStates(c0, { since: later }))).ms);
    inc.fixed.push((await timed(() => Promise.all([store.campaigns(), store.locks()]))).ms);
    let sum = 0;
    allRows = 0;
    for (const q of allSince) {
      const x = await timed(() => store.influx.rows(q));
      sum += x.ms;
      allRows += x.value.length;
    }
    inc.allCampaigns.push(sum);
  }
  const b = Object.fromEntries(Object.entries(inc).map(([k, v]) => [k, median(v)]));
  const exact = sizes.every(
    (s, k) =>
      s.states === changed[k]?.states &&
      s.registered === changed[k]?.registered &&
      s.jobs === changed[k]?.jobs,
  );

  // the first load merged with the incremental reads is the current state
  const [s1, g1, j1] = await Promise.all([
    store.runStates(c0, { since }),
    store.registeredRuns(c0, { since }),
    store.jobs(c0, { since }),
  ]);
  const fresh = await fullLoad(store, c0);
  const sameMap = (x, y, view) =>
    x.size === y.size && [...x].every(([k, v]) => y.has(k) && view(v) === view(y.get(k)));
  const consistent =
    sameMap(
      new Map([...first.states, ...s1]),
      fresh.states,
      (s) => `${s.status}/${s.attempt}/${s.tries}/${s.outputs.join(',')}`,
    ) &&
    sameMap(new Map([...first.registered, ...g1]), fresh.registered, (x) => `${x.era}/${x.fill}`) &&
    sameMap(new Map([...first.jobs, ...j1]), fresh.jobs, (x) => `${x.status}/${x.nativeId}`);

  const planQ = (extra) =>
    `SELECT ${RUN_FIELDS} FROM "run" WHERE "campaign" = '${c0}'${extra} GROUP BY "workflow"`;
  const exInc = await explain(url, db, planQ(` AND time > ${Math.trunc(since)}ms`));
  const exFull = await explain(url, db, planQ(''));

  // (c) ----------------------------------------------------------------------------------------------
  const loadInChild = (how) =>
    new Promise((resolve, reject) => {
      const p = spawn(
        process.execPath,
        ['--expose-gc', fileURLToPath(import.meta.url), '--child-load', url, db, campaigns.join(','), how],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('error', reject);
      p.on('close', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the load process exited with ${code}`)),
      );
    });
  // before any snapshot: the fallback (full read folded into a StateTable), and the former object maps
  const childFull = await loadInChild('held');
  const childObjects = await loadInChild('objects');

  // (d) ----------------------------------------------------------------------------------------------
  const d = {};
  const countPoints = async () => {
    const rows = await store.influx.rows(`SELECT count("status") FROM "run"`);
    return rows[0]?.count ?? 0;
  };
  d.compact1 = await compactThenChange(url, db, store);
  // (c) through the snapshot, as a loop holds the state after its first pass; then with every pair read in full
  const child = await loadInChild('held');
  const childAll = await loadInChild('all-read');
  d.points1 = await countPoints();
  d.load1 = load();
  d.f1 = await freshCommands(url, db, c0);
  d.doubleMs = (
    await timed(async () => {
      for (const c of campaigns) await buildCampaign(store, c);
    })
  ).ms;
  d.compact2 = await compactThenChange(url, db, store);
  d.points2 = await countPoints();
  d.load2 = load();
  d.f2 = await freshCommands(url, db, c0);

  // report -------------------------------------------------------------------------------------------
  const ratio = a.store / raw;
  const entities = first.states.size + first.registered.size + first.jobs.size;
  const rssOk = child.maxRss <= TARGET.rssMb * 1024 * 1024;
  const ok =
    ratio <= TARGET.loadRatio && b.total <= TARGET.incrementalMs && rssOk && freshOk(d.f1) && freshOk(d.f2);
  const line = (s = '') => console.log(s);
  line();
  line(`(a) first full load of campaign ${c0}, median of ${o.reps}:`);
  line(
    `    runctrl, as the pass does it:    ${fmt(a.store)}  (${entities} entities from ${rawPoints} points)`,
  );
  line(
    `    raw SELECT * of the same points: ${fmt(raw)}  (fetch + JSON.parse; plain ${fmt(a.rawPlain)}, chunked ${fmt(a.rawChunked)})`,
  );
  line(`    raw SELECT * FROM run only:      ${fmt(a.rawRun)}  (${runPoints} points)`);
  line(
    `    ratio ${ratio.toFixed(2)} (target ≤ ${TARGET.loadRatio}: ${verdict(ratio <= TARGET.loadRatio)}); ${(a.store / a.rawRun).toFixed(2)} against the run points only`,
  );
  line(
    `    what-if, rows built without { ...tags } (same queries and decoders): ${fmt(a.plainRows)}, ratio ${(a.plainRows / raw).toFixed(2)}`,
  );
  line(
    `    run-state read of ${c0}: HTTP + JSON ${fmt(a.query)}; then, on that answer: rows() ${fmt(a.rows)}, runStates() (rows + decoding into the map) ${fmt(a.states)}; without { ...tags }: ${fmt(a.plainRowsCpu)}`,
  );
  line();
  line(
    `(b) incremental pass over ${o.campaigns} campaigns, since = last pass − ${OVERLAP_MS} ms, median of ${o.reps}:`,
  );
  line(
    `    InfluxDB time of the since-reads, summed: ${fmt(b.total)} (target ≤ ${TARGET.incrementalMs} ms: ${verdict(b.total <= TARGET.incrementalMs)})`,
  );
  line(
    `    per query: runStates ${fmt(b.runStates)}, registeredRuns ${fmt(b.registeredRuns)}, jobs ${fmt(b.jobs)}; a request that reads nothing: ${fmt(b.floor)}`,
  );
  line(
    `    queries per campaign: ${queriesPerCampaign}; as the pass issues them (3 at once): ${fmt(b.wall)} wall`,
  );
  line(`    per pass also campaigns() + locks() (4 queries for all campaigns): ${fmt(b.fixed)}`);
  line(
    `    what-if, the 3 since-reads for all campaigns at once (GROUP BY "campaign", ...): ${fmt(b.allCampaigns)} (${allRows} rows)`,
  );
  line(
    `    read per campaign: ${sizes[0]?.states} pairs, ${sizes[0]?.registered} runs, ${sizes[0]?.jobs} jobs: ${exact ? 'exactly what changed' : 'NOT what changed'}; first load + incremental = fresh full load: ${consistent ? 'yes' : 'NO'}`,
  );
  line(
    `    EXPLAIN ANALYZE runStates: incremental ${exInc.total}, ${exInc.cursors} cursors, ${exInc.blocks} blocks decoded (${exInc.blockBytes} B); full ${exFull.total}, ${exFull.cursors} cursors, ${exFull.blocks} blocks (${exFull.blockBytes} B)`,
  );
  line();
  line(
    `(c) a fresh process holding the state of all ${o.campaigns} campaigns as a loop does (Store.campaignState), ${child.pairs} pairs:`,
  );
  const heldLine = (label, x) =>
    line(
      `    ${label.padEnd(44)} peak RSS ${mb(x.maxRss)}, RSS after gc ${mb(x.rssAfterGc)}, heap used ${mb(x.heapUsed)} (${Math.round((x.heapUsed - x.heapBefore) / x.pairs)} B a pair), ${fmt(x.loadMs)} [${x.via}]`,
    );
  heldLine('through the snapshots', child);
  heldLine('the same, every pair then read in full', childAll);
  line(
    `    target: the state held through the snapshots, peak RSS ≤ ${TARGET.rssMb} MB: ${verdict(rssOk)} (ratio ${(child.maxRss / (TARGET.rssMb * 1024 * 1024)).toFixed(2)}; read in full: ${(childAll.maxRss / (TARGET.rssMb * 1024 * 1024)).toFixed(2)})`,
  );
  heldLine('without snapshot (fallback)', childFull);
  heldLine('what-if, Maps of objects (before issue 8)', childObjects);
  if (process.env.BENCH_EXPLAIN) line(`\n${exInc.text}\n\n${exFull.text}`);
  line();
  line(
    `(d) fresh processes (spawning bin/runctrl.js), median of ${o.reps}, after runctrl compact (${fmt(d.compact1.ms)}) and a little change; load average ${d.load1}:`,
  );
  freshLines(`history as built (${d.points1} points)`, d.f1, line);
  line(
    `    history doubled (another round of transitions on every pair, ${fmt(d.doubleMs)}; compact ${fmt(d.compact2.ms)}); load average ${d.load2}:`,
  );
  freshLines(`doubled history (${d.points2} points)`, d.f2, line);
  line(
    `    doubled / as built: ${FRESH.map((x) => `${x.key} ${(d.f2[x.key].ms / d.f1[x.key].ms).toFixed(2)}`).join(', ')}`,
  );
  line();
  line(`load average at the end ${load()}`);
  return ok;
}

let url = process.env.RUNCTRL_INFLUXDB_URL;
let influxDir;
const script = path.join(root, 'scripts', 'influxdb.sh');
function stopInflux() {
  if (!influxDir) return;
  const dir = influxDir;
  influxDir = undefined;
  try {
    execFileSync('bash', [script, 'down', dir], { stdio: 'ignore' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (!url) {
  influxDir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-cycle-'));
  url = execFileSync('bash', [script, 'up', influxDir], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      stopInflux();
      process.exit(130);
    });
  }
}
const db = o.db ?? `bench_cycle_${randomBytes(4).toString('hex')}`;
const store = Store.open({ url, db, timeoutMs: 600_000 });
let ok = false;
try {
  ok = await main(url, db, store);
} finally {
  if (o.db === undefined) await store.influx.dropDatabase().catch(() => undefined);
  stopInflux();
}
console.log(`bench/cycle: ${ok ? 'all targets met' : 'some targets missed'}`);
process.exitCode = ok ? 0 : 1;
