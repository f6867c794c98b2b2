#!/usr/bin/env node
/**
 * Dispatch benchmark of the Slurm backend against a real private Slurm (issue 4, "Benchmark").
 *
 *   npm run build && npm run bench:dispatch                      (2,000 jobs, both modes)
 *   node bench/dispatch.mjs --jobs 10000 --modes array           (the 10,000-job target, array mode only)
 *
 * Options:
 *   --jobs N            jobs per mode (default 2000)
 *   --modes LIST        `array`, `single` or `array,single` (default both, array first)
 *   --command CMD       the job's command (default `true`; e.g. --command 'sleep 0.1')
 *   --cpus C            CPUs of the private node (SLURM_CPUS, default 64; may exceed the real cores)
 *   --min-job-age S     MinJobAge of the private Slurm (default 30, see below)
 *   --poll-ms MS        interval between status() calls (default 1000)
 *   --timeout-s S       give up waiting for one mode after S seconds (default 1800)
 *   --cold-status       after a mode, wait until Slurm has purged its jobs (MinJobAge), then time one
 *                       status() of a fresh backend (as after a runctrl restart): the accounting fallback
 *   --keep              keep the temp dir (logs, slurm.conf) after stopping Slurm
 *
 * It starts a private Slurm with scripts/slurm.sh in a temp dir (needs root), and then, for each mode, makes
 * ONE `submit()` call with N jobs through runctrl's SlurmBackend (built dist/) and polls `status()` for all
 * of them (one call per poll) until every job is terminal:
 *   - array:  N jobs with equal resources: the backend sends them as array jobs (`sbatch --array`, at most
 *             `maxArraySize` = 1000 tasks each, because Slurm's default MaxArraySize is 1001).
 *   - single: N jobs that each ask a different `--time` (walltimeMin = 60 + i): groupByResources puts every
 *             job in its own group, so the backend must run one `sbatch` per job.
 * Reported per mode: submit time (wall time of submit()), time to all done (from the start of submit() to
 * the poll that saw the last job terminal), status() calls and their mean/max time, and the number of
 * sbatch / squeue / sacct invocations the backend made and the time spent inside them (shims placed first
 * on the backend's PATH log each call). Then the ratios single/array and the 10,000-job figure for array
 * mode (measured when N ≥ 10,000, else extrapolated linearly from N) against the target: 10,000 jobs
 * dispatched in ≤ 60 s.
 *
 * MinJobAge: 30 s by default. Long enough that a ~1 s poll sees every finished job in `squeue -t all`
 * (status() stays on its single squeue per pass, as on a production cluster with the default 300 s), short
 * enough that finished records do not pile up towards MaxJobCount. `--min-job-age 1` makes jobs vanish from
 * squeue between polls and so exercises the accounting fallback (`sacct -c`); `--cold-status` times it for
 * all N jobs at once.
 *
 * MaxJobCount: scripts/slurm.sh leaves Slurm's default, 10,000, and slurmctld counts every task of a
 * pending array and every finished job not yet purged against it. So `--jobs 10000` in array mode cannot be
 * accepted at once: the 10th array of 1000 is refused with EAGAIN, and sbatch sleeps and retries on its own
 * (up to ~2 min) until enough finished jobs are purged; the bench reports such refusals from slurmctld.log.
 *
 * Slurm is stopped (`scripts/slurm.sh down`: scancel all, stop the daemons by their recorded PIDs) at the
 * end, on error, and on SIGINT/SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const slurmSh = path.join(root, 'scripts', 'slurm.sh');
const { createBackend } = await import(path.join(root, 'dist', 'backends', 'index.js'));
const { jobName } = await import(path.join(root, 'dist', 'backends', 'types.js'));

// ------------------------------------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = {
    jobs: 2000,
    modes: ['array', 'single'],
    command: 'true',
    cpus: 64,
    minJobAge: 30,
    pollMs: 1000,
    timeoutS: 1800,
    keep: false,
    coldStatus: false,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} wants a positive number, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const val = () => inline ?? argv[++i];
    switch (flag) {
      case '--jobs':
        o.jobs = Math.floor(num(flag, val()));
        break;
      case '--modes': {
        o.modes = String(val())
          .split(',')
          .map((m) => m.trim())
          .filter((m) => m !== '');
        const bad = o.modes.filter((m) => m !== 'array' && m !== 'single');
        if (bad.length > 0 || o.modes.length === 0) throw new Error(`--modes: array and/or single`);
        break;
      }
      case '--command':
        o.command = String(val());
        break;
      case '--cpus':
        o.cpus = Math.floor(num(flag, val()));
        break;
      case '--min-job-age':
        o.minJobAge = Math.floor(num(flag, val()));
        break;
      case '--poll-ms':
        o.pollMs = num(flag, val());
        break;
      case '--timeout-s':
        o.timeoutS = num(flag, val());
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--cold-status':
        o.coldStatus = true;
        break;
      case '-h':
      case '--help':
        console.log(
          'usage: node bench/dispatch.mjs [--jobs N] [--modes array,single] [--command CMD] [--cpus C]\n' +
            '                              [--min-job-age S] [--poll-ms MS] [--timeout-s S] [--cold-status] [--keep]',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (try --help)`);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
if (process.getuid?.() !== 0) {
  console.error('bench/dispatch: needs root to start a private Slurm (scripts/slurm.sh)');
  process.exit(1);
}

// ------------------------------------------------------------------------------------------------ helpers

const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => (ms / 1000).toFixed(2);

/**
 * Shims for the Slurm commands: each runs the real command and appends `name start end` (bash's
 * EPOCHREALTIME) to `log`, so that the bench can count the invocations and the time spent inside them.
 * (Not `exec`: a shim killed by the backend's timeout would leave the real command running; the bench's
 * timeouts are set above sbatch's own retry loop so that this does not happen.)
 */
function writeShims(dir, log) {
  mkdirSync(dir, { recursive: true });
  for (const cmd of COMMANDS) {
    let real;
    try {
      real = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    } catch {
      continue; // not installed: the backend reports it
    }
    const file = path.join(dir, cmd);
    writeFileSync(
      file,
      `#!/bin/bash\ns=$EPOCHREALTIME\n'${real}' "$@"\nrc=$?\necho "${cmd} $s $EPOCHREALTIME" >> '${log}'\nexit $rc\n`,
    );
    chmodSync(file, 0o755);
  }
  writeFileSync(log, '');
}

const COMMANDS = ['sbatch', 'squeue', 'sacct', 'scancel', 'scontrol'];

/** Invocations per command so far, and seconds spent inside them (`<cmd>S`). */
function countCommands(log) {
  const counts = {};
  for (const c of COMMANDS) {
    counts[c] = 0;
    counts[`${c}S`] = 0;
  }
  for (const l of readFileSync(log, 'utf8').split('\n')) {
    const [cmd, start, end] = l.split(' ');
    if (!(cmd in counts)) continue;
    counts[cmd]++;
    const d = Number(end) - Number(start);
    if (Number.isFinite(d)) counts[`${cmd}S`] += d;
  }
  return counts;
}

const diff = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - b[k]]));

function makeJobs(workRoot, mode, n, command) {
  const dir = path.join(workRoot, mode);
  mkdirSync(dir, { recursive: true });
  const jobs = [];
  for (let i = 0; i < n; i++) {
    const out = path.join(dir, `${i}.out`);
    jobs.push({
      name: jobName('bench', mode, i, 1),
      command,
      workDir: dir,
      stdout: out,
      stderr: out,
      exitCodeFile: path.join(dir, `${i}.ec`),
      env: {},
      // array: equal resources → one group; single: a distinct --time per job → N groups of one.
      resources: mode === 'array' ? { walltimeMin: 60 } : { walltimeMin: 60 + i },
    });
  }
  return jobs;
}

/** Lines of slurmctld.log from byte `from` on that say a submission was refused for now. */
function refusals(ctldLog, from) {
  let text = '';
  try {
    text = readFileSync(ctldLog).subarray(from).toString('utf8');
  } catch {
    return { eagain: 0, maxJobCount: 0 };
  }
  return {
    eagain: (text.match(/_slurm_rpc_submit_batch_job: Resource temporarily unavailable/g) ?? []).length,
    maxJobCount: (text.match(/MaxJobCount limit from slurm\.conf reached/g) ?? []).length,
  };
}

const fileSize = (f) => (existsSync(f) ? readFileSync(f).length : 0);

function newBackend(base, env) {
  // submitTimeoutMs above sbatch's own retry loop (≤ 120 s when slurmctld answers EAGAIN, e.g. MaxJobCount):
  // a stall shows up as submit time here instead of as deferred jobs.
  return createBackend('slurm', {
    stateDir: path.join(base, 'state'),
    env,
    slurm: { commandTimeoutMs: 60_000, submitTimeoutMs: 150_000 },
  });
}

/** After the jobs are purged from slurmctld (MinJobAge), one status() of a fresh backend. */
async function coldStatus(mode, ctx, tracked) {
  const { base, env, log } = ctx;
  const t0 = performance.now();
  const ids = new Set(tracked.map((t) => t.id.split('_')[0]));
  for (;;) {
    const out = execFileSync('squeue', ['-h', '-t', 'all', '-o', '%F'], { encoding: 'utf8', env });
    const left = out.split('\n').filter((l) => ids.has(l.trim())).length;
    if (left === 0) break;
    if (performance.now() - t0 > 600_000) throw new Error(`[${mode}] jobs still in squeue after 600 s`);
    await sleep(2000);
  }
  console.log(`[${mode}] all purged from squeue ${secs(performance.now() - t0)} s after the last poll`);
  const backend = newBackend(base, env);
  const before = countCommands(log);
  const ts = performance.now();
  const st = await backend.status(tracked);
  const tCold = performance.now() - ts;
  const mid = countCommands(log);
  const ts2 = performance.now();
  await backend.status(tracked);
  const tWarm = performance.now() - ts2;
  const tally = {};
  for (const t of tracked) {
    const s = st.get(t.id)?.state ?? 'missing';
    tally[s] = (tally[s] ?? 0) + 1;
  }
  const c = diff(mid, before);
  console.log(
    `[${mode}] cold status() of ${tracked.length} purged jobs: ${secs(tCold)} s ` +
      `(${c.squeue} squeue, ${c.sacct} sacct) ${JSON.stringify(tally)}; again: ${secs(tWarm)} s`,
  );
  return { coldStatusS: tCold / 1000, coldStatusCommands: c, coldStates: tally, repeatStatusS: tWarm / 1000 };
}

async function runMode(mode, ctx) {
  const { base, env, log, ctldLog } = ctx;
  const backend = newBackend(base, env);
  const jobs = makeJobs(path.join(base, 'work'), mode, opts.jobs, opts.command);
  const before = countCommands(log);
  const logFrom = fileSize(ctldLog);

  const t0 = performance.now();
  const res = await backend.submit(jobs);
  const tSubmit = performance.now() - t0;
  const afterSubmit = countCommands(log);
  console.log(
    `[${mode}] submit(): ${res.submitted.length} submitted, ${res.deferred.length} deferred, ` +
      `${res.rejected.length} rejected in ${secs(tSubmit)} s ` +
      `(${diff(afterSubmit, before).sbatch} sbatch, ${diff(afterSubmit, before).sbatchS.toFixed(2)} s inside sbatch)`,
  );
  for (const r of [...res.deferred, ...res.rejected].slice(0, 3)) console.log(`  ${r.name}: ${r.reason}`);
  const refused = refusals(ctldLog, logFrom);
  if (refused.eagain > 0) {
    console.log(
      `[${mode}] slurmctld refused ${refused.eagain} submission attempt(s) for now` +
        (refused.maxJobCount > 0 ? ` (${refused.maxJobCount}× MaxJobCount reached)` : '') +
        `; sbatch slept and retried on its own (1 s, 2 s, 3 s, … up to 15 tries) inside submit()`,
    );
  }

  const submittedAt = Date.now();
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const tracked = res.submitted.map((s) => ({
    id: s.id,
    name: s.name,
    exitCodeFile: byName.get(s.name).exitCodeFile,
    submittedAt,
  }));
  const statusTimes = [];
  let last = new Map();
  let tDone;
  let lastPrint = 0;
  const deadline = performance.now() + opts.timeoutS * 1000;
  for (;;) {
    const ts = performance.now();
    last = await backend.status(tracked);
    statusTimes.push(performance.now() - ts);
    const tally = {};
    let terminal = 0;
    for (const t of tracked) {
      const s = last.get(t.id)?.state ?? 'missing';
      tally[s] = (tally[s] ?? 0) + 1;
      if (TERMINAL.has(s)) terminal++;
    }
    const now = performance.now();
    if (terminal === tracked.length) {
      tDone = now - t0;
      console.log(`[${mode}] all ${tracked.length} terminal at ${secs(tDone)} s: ${JSON.stringify(tally)}`);
      break;
    }
    if (now - lastPrint > 5000) {
      lastPrint = now;
      console.log(`[${mode}] ${secs(now - t0)} s: ${JSON.stringify(tally)}`);
    }
    if (now > deadline) {
      console.log(`[${mode}] gave up after ${opts.timeoutS} s: ${JSON.stringify(tally)}`);
      break;
    }
    await sleep(Math.max(0, opts.pollMs - (performance.now() - ts)));
  }
  const afterAll = countCommands(log);
  await backend.close();
  const cold = opts.coldStatus && tDone !== undefined ? await coldStatus(mode, ctx, tracked) : {};
  const states = {};
  for (const t of tracked) {
    const s = last.get(t.id);
    const k = s?.state === 'failed' ? `failed(${s.exitCode ?? s.reason ?? '?'})` : (s?.state ?? 'missing');
    states[k] = (states[k] ?? 0) + 1;
  }
  return {
    mode,
    jobs: opts.jobs,
    submitted: res.submitted.length,
    deferred: res.deferred.length,
    rejected: res.rejected.length,
    submitS: tSubmit / 1000,
    allDoneS: tDone === undefined ? undefined : tDone / 1000,
    statusCalls: statusTimes.length,
    statusMeanS: statusTimes.reduce((a, b) => a + b, 0) / statusTimes.length / 1000,
    statusMaxS: Math.max(...statusTimes) / 1000,
    submitCommands: diff(afterSubmit, before),
    pollCommands: diff(afterAll, afterSubmit),
    submitRefusals: refused,
    states,
    ...cold,
  };
}

// ------------------------------------------------------------------------------------------------ main

const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-dispatch-'));
chmodSync(base, 0o755); // munged wants o+x on every directory of its socket path
const slurmDir = path.join(base, 'slurm');
let stopped = false;
function stopSlurm() {
  if (stopped) return;
  stopped = true;
  if (existsSync(slurmDir)) {
    try {
      execFileSync('bash', [slurmSh, 'down', slurmDir], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch (e) {
      console.error(`bench/dispatch: scripts/slurm.sh down failed: ${e.message}`);
    }
  }
  if (opts.keep) console.log(`kept ${base}`);
  else rmSync(base, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\nbench/dispatch: ${sig}: stopping Slurm`);
    stopSlurm();
    process.exit(130);
  });
}

const results = [];
let exitCode = 0;
try {
  const tUp = performance.now();
  let out = '';
  for (let attempt = 1; ; attempt++) {
    try {
      out = execFileSync('bash', [slurmSh, 'up', slurmDir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          SLURM_CPUS: String(opts.cpus),
          SLURM_MIN_JOB_AGE: String(opts.minJobAge),
          SLURM_MAX_JOB_COUNT: String(Math.max(10_000, 5 * opts.jobs)),
        },
      });
      break;
    } catch (e) {
      // slurm.sh picks ports that are free when it looks; another Slurm starting at the same moment can take
      // one first. Stop what was started and try again with fresh ports.
      const stderr = String(e.stderr ?? '');
      if (attempt >= 3 || !/Address already in use/.test(stderr)) {
        process.stderr.write(stderr);
        throw e;
      }
      console.error(`bench/dispatch: scripts/slurm.sh up lost a port race (attempt ${attempt}); retrying`);
      execFileSync('bash', [slurmSh, 'down', slurmDir], { stdio: 'ignore' });
      rmSync(path.join(slurmDir, 'ports'), { force: true });
    }
  }
  const conf = /export SLURM_CONF=(\S+)/.exec(out)?.[1];
  if (!conf) throw new Error(`scripts/slurm.sh up printed no SLURM_CONF: ${out}`);
  const shims = path.join(base, 'shims');
  const log = path.join(base, 'commands.log');
  writeShims(shims, log);
  const env = { ...process.env, SLURM_CONF: conf, PATH: `${shims}:${process.env.PATH ?? ''}` };
  const version = execFileSync('sinfo', ['--version'], { encoding: 'utf8', env }).trim();
  const config = execFileSync('scontrol', ['show', 'config'], { encoding: 'utf8', env });
  const confVal = (k) => new RegExp(`^${k}\\s*=\\s*(\\S+)`, 'm').exec(config)?.[1] ?? '?';
  console.log(
    `${version}, single node CPUs=${opts.cpus}, MinJobAge=${opts.minJobAge}, MaxJobCount=${confVal('MaxJobCount')}, ` +
      `MaxArraySize=${confVal('MaxArraySize')}, up in ${secs(performance.now() - tUp)} s; ` +
      `${os.cpus().length} real cores; ${opts.jobs} jobs per mode running '${opts.command}'; poll every ${opts.pollMs} ms`,
  );
  for (const mode of opts.modes) {
    results.push(
      await runMode(mode, { base, env, log, ctldLog: path.join(slurmDir, 'log', 'slurmctld.log') }),
    );
  }
} catch (e) {
  console.error(`bench/dispatch: ${e.stack ?? e}`);
  exitCode = 1;
} finally {
  stopSlurm();
}

// ------------------------------------------------------------------------------------------------ report

if (results.length > 0) {
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(2));
  const cmds = (c) =>
    ['sbatch', 'squeue', 'sacct']
      .filter((k) => c[k] > 0)
      .map((k) => `${c[k]} ${k} (${c[`${k}S`].toFixed(2)} s)`)
      .join(', ') || 'none';
  console.log('\nmode    jobs  submit s  all-done s  jobs/s(submit)  status() calls (mean/max s)  commands');
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(6)} ${String(r.submitted).padStart(5)}  ${f(r.submitS).padStart(8)}  ${f(r.allDoneS).padStart(10)}  ` +
        `${(r.submitted / r.submitS).toFixed(0).padStart(14)}  ${String(r.statusCalls).padStart(5)} (${r.statusMeanS.toFixed(3)}/${r.statusMaxS.toFixed(3)})` +
        `${''.padStart(8)}  submit: ${cmds(r.submitCommands)}; polling: ${cmds(r.pollCommands)}`,
    );
    console.log(`       final states: ${JSON.stringify(r.states)}`);
    if (r.submitRefusals.maxJobCount > 0) {
      console.log(
        `       submit includes sbatch's own retry sleeps: slurmctld's MaxJobCount counts every pending array ` +
          `task and every finished job not yet purged (MinJobAge)`,
      );
    }
    if (r.coldStatusS !== undefined) {
      console.log(
        `       cold status() after purge (fresh backend): ${f(r.coldStatusS)} s with ${cmds(r.coldStatusCommands)}; ` +
          `repeated: ${f(r.repeatStatusS)} s; states ${JSON.stringify(r.coldStates)}`,
      );
    }
  }
  const a = results.find((r) => r.mode === 'array');
  const s = results.find((r) => r.mode === 'single');
  if (a && s) {
    console.log(
      `ratio single/array: submit ${(s.submitS / a.submitS).toFixed(1)}x, ` +
        `all done ${a.allDoneS && s.allDoneS ? (s.allDoneS / a.allDoneS).toFixed(2) + 'x' : 'n/a'} ` +
        `(array/single: submit ${(a.submitS / s.submitS).toFixed(4)}, all done ${a.allDoneS && s.allDoneS ? (a.allDoneS / s.allDoneS).toFixed(2) : 'n/a'})`,
    );
  }
  if (a) {
    const measured = a.submitted >= 10_000;
    const t10k = measured ? a.submitS : (a.submitS * 10_000) / a.submitted;
    console.log(
      `10,000 jobs dispatched in array mode: ${t10k.toFixed(2)} s ${measured ? '(measured)' : `(extrapolated from ${a.submitted})`} → ` +
        `target ≤ 60 s ${t10k <= 60 ? 'MET' : 'NOT MET'}`,
    );
  }
  console.log(`JSON ${JSON.stringify(results)}`);
  if (results.some((r) => r.allDoneS === undefined || r.submitted < r.jobs)) exitCode = exitCode || 2;
}
process.exitCode = exitCode;
