#!/usr/bin/env node
/**
 * Flow benchmark (issue 7): how long the sample era takes from `inject` to every pair done, against the same
 * commands run by `xargs -P <cores>` level by level in dependency order — the machine's limit for them.
 *
 *   npm run build && npm run bench:flow                   (local backend)
 *   node bench/flow.mjs --backend slurm                   (a private Slurm from scripts/slurm.sh; root)
 *
 * Options: --era NAME (default Run2024C; `all`, or --all-eras: every era of the sample registry, about ten times the
 * units, to see that the cost per unit stays flat), --interval D (default 60s: the daemon's default; hops must not
 * wait for it), --repeat N (local: repetitions, median reported; default 3), --keep (keep the temp dir).
 *
 * It starts a private InfluxDB (scripts/influxdb.sh) in a temp dir, applies campaigns/rereco_2024.json (its
 * workflows moved to the chosen backend), injects the era and times `runctrl automation --until-done`. Then,
 * from the job records: every dependency hop (a parent's end, i.e. its exit-code file written → its child
 * submitted), median and p95. The baseline renders each unit's command exactly as runctrl does and runs each
 * dependency level through `xargs -P <cores>`; ratio = runctrl / xargs. Targets: local ≤ 10 s end to end;
 * Slurm median hop ≤ 2 s.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'runctrl.js');
const { renderCommand } = await import(path.join(root, 'dist', 'automation', 'handler.js'));

function parseArgs(argv) {
  const o = { backend: 'local', era: 'Run2024C', interval: '60s', repeat: 3, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => argv[++i];
    if (a === '--backend') o.backend = String(val());
    else if (a === '--era') o.era = String(val());
    else if (a === '--all-eras') o.era = 'all';
    else if (a === '--interval') o.interval = String(val());
    else if (a === '--repeat') o.repeat = Math.max(1, Number(val()) || 1);
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log(
        'usage: node bench/flow.mjs [--backend local|slurm] [--era NAME|all] [--all-eras] [--interval 60s] [--repeat N] [--keep]',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  if (!['local', 'slurm'].includes(o.backend)) throw new Error('--backend: local or slurm');
  return o;
}

const o = parseArgs(process.argv.slice(2));
const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-flow-'));
chmodSync(base, 0o755); // munged (private Slurm) needs o+x on every directory above its socket
const cleanups = [];
const cores = os.cpus().length;

function sh(script, args, env = {}) {
  return execFileSync('bash', [path.join(root, 'scripts', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

function runctrl(env, args) {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`runctrl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function p95(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))];
}

/** The sample campaign with every workflow on `backend`, under a fresh campaign name. */
function campaignFile(name, backend) {
  const spec = JSON.parse(readFileSync(path.join(root, 'campaigns', 'rereco_2024.json'), 'utf8'));
  spec.campaign = name;
  for (const w of Object.values(spec.workflows)) w.backend = backend;
  const file = path.join(base, `${name}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return { file, spec };
}

/** Dependency hops (ms) from the job records: parent's exit-code file written → child submitted. */
function hops(jobs, spec) {
  const out = [];
  for (const child of jobs) {
    for (const dep of spec.workflows[child.workflow]?.depends_on ?? []) {
      const parents = jobs.filter((j) => j.workflow === dep && j.runs.some((r) => child.runs.includes(r)));
      if (parents.length === 0) continue;
      out.push(child.submittedAt - Math.max(...parents.map((p) => statSync(p.exitCodeFile).mtimeMs)));
    }
  }
  return out;
}

/** One runctrl run: inject → until done. */
function runOnce(env, name, backend) {
  const { file, spec } = campaignFile(name, backend);
  runctrl(env, ['apply', file]);
  const t0 = performance.now();
  runctrl(env, [
    'inject',
    '--campaign',
    name,
    ...(o.era === 'all' ? ['--range', '1,999999999'] : ['--era', o.era]),
  ]);
  runctrl(env, ['automation', '--until-done', '--interval', o.interval, '--campaign', name]);
  const seconds = (performance.now() - t0) / 1000;
  const status = JSON.parse(runctrl(env, ['status', '--campaign', name, '--json']));
  const jobs = JSON.parse(runctrl(env, ['jobs', '--campaign', name, '--json']));
  const notDone = Object.values(status.totals).reduce(
    (n, t) => n + (t.new ?? 0) + (t.processing ?? 0) + (t.failed ?? 0),
    0,
  );
  return { seconds, jobs, spec, notDone, status };
}

/** The same units' commands, rendered as runctrl renders them, run level by level through xargs -P cores. */
function baseline(env, jobs, spec) {
  const levels = new Map();
  const level = (w) => (spec.workflows[w].depends_on ?? []).reduce((m, d) => Math.max(m, level(d) + 1), 0);
  const out = path.join(base, 'xargs-out');
  for (const j of jobs) {
    const w = spec.workflows[j.workflow];
    const unit = {
      campaign: 'xargs',
      workflow: j.workflow,
      unit: j.unit,
      runs: j.runs,
      attempt: 1,
      era: o.era,
      fill: 0,
      inputs: {},
      outdir: path.join(out, j.workflow, j.unit),
    };
    const l = level(j.workflow);
    if (!levels.has(l)) levels.set(l, []);
    levels.get(l).push(renderCommand(w.command, unit));
  }
  const t0 = performance.now();
  for (const l of [...levels.keys()].sort((a, b) => a - b)) {
    const r = spawnSync('xargs', ['-d', '\n', '-P', String(cores), '-I', 'CMD', 'sh', '-c', 'CMD'], {
      input: levels.get(l).join('\n'),
      env: { ...env, RUNCTRL_OUTPUT_FILE: path.join(base, 'xargs-outputs') },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`xargs level ${l} failed: ${r.stderr}`);
  }
  return (performance.now() - t0) / 1000;
}

async function main() {
  if (o.backend === 'slurm' && process.getuid?.() !== 0)
    throw new Error('--backend slurm needs root (scripts/slurm.sh)');
  const influxDir = path.join(base, 'influx');
  const url = sh('influxdb.sh', ['up', influxDir]).trim().split('\n').pop();
  cleanups.push(() => sh('influxdb.sh', ['down', influxDir]));
  const env = {
    ...process.env,
    RUNCTRL_INFLUXDB_URL: url,
    RUNCTRL_DB: 'bench_flow',
    RUNCTRL_STATE_DIR: path.join(base, 'state'),
  };
  if (o.backend === 'slurm') {
    const out = sh('slurm.sh', ['up', path.join(base, 'slurm')], { SLURM_CPUS: String(Math.max(8, cores)) });
    cleanups.push(() => sh('slurm.sh', ['down', path.join(base, 'slurm')]));
    env.SLURM_CONF = /export SLURM_CONF=(\S+)/.exec(out)?.[1];
  }
  const load0 = os.loadavg()[0];
  const runs = [];
  const reps = o.backend === 'local' ? o.repeat : 1;
  for (let i = 0; i < reps; i++) runs.push(runOnce(env, `flow_${o.backend}_${i}`, o.backend));
  const last = runs[runs.length - 1];
  const units = last.jobs.length;
  const h = runs.flatMap((r) => hops(r.jobs, r.spec));
  const t = median(runs.map((r) => r.seconds));
  console.log(
    `bench/flow: era ${o.era}, ${units} units (${JSON.stringify(last.status.totals)}), backend ${o.backend}, interval ${o.interval}, ${cores} cores, load ${load0.toFixed(2)}`,
  );
  console.log(
    `runctrl inject → all done: median ${t.toFixed(2)} s of ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} s; pairs not done: ${last.notDone}`,
  );
  console.log(
    `dependency hops (${h.length}): median ${(median(h) / 1000).toFixed(3)} s, p95 ${(p95(h) / 1000).toFixed(3)} s, max ${(Math.max(...h) / 1000).toFixed(3)} s`,
  );
  if (o.backend === 'local') {
    const x = baseline(env, last.jobs, last.spec);
    console.log(
      `xargs -P ${cores}, level by level, same commands: ${x.toFixed(2)} s; ratio runctrl/xargs ${(t / x).toFixed(1)}`,
    );
    console.log(
      `per unit: runctrl ${((t * 1000) / units).toFixed(2)} ms, xargs ${((x * 1000) / units).toFixed(2)} ms`,
    );
    if (o.era !== 'all')
      console.log(`target ≤ 10 s end to end: ${t <= 10 ? 'MET' : 'NOT MET'} (${t.toFixed(2)} s)`);
    console.log(`target ≤ 4× xargs: ${t <= 4 * x ? 'MET' : 'NOT MET'} (${(t / x).toFixed(1)}×)`);
  } else {
    console.log(
      `target median hop ≤ 2 s: ${median(h) <= 2000 ? 'MET' : 'NOT MET'} (${(median(h) / 1000).toFixed(3)} s)`,
    );
  }
  console.log(
    `load average after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`bench/flow: ${err instanceof Error ? err.message : String(err)}`);
  code = 1;
} finally {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch (err) {
      console.error(`bench/flow: cleanup: ${err.message}`);
    }
  }
  if (!o.keep) rmSync(base, { recursive: true, force: true });
}
process.exitCode = code;
