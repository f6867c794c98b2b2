// Shared state of the fake batch commands (HTCondor, LSF, PBS/Torque).
//
// State lives in $FAKE_BATCH_DIR:
//   jobs/<key>.json   one record per job (or array element)
//   counters.json     next ids
//   calls.jsonl       one line per command invocation {cmd, args, at} (tests assert on it)
//   behavior.json     optional knobs, see README.md (startDelayMs, holdOnSubmit, inject, …)
// Jobs really run: a detached shell runner (runner.sh) executes the job script and records start/pid/exit in
//   run/<key>/ — merged into the records by hydrate().
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES_DIR = path.resolve(here, '..', '..', 'fixtures');

export function stateDir() {
  const d = process.env.FAKE_BATCH_DIR;
  if (!d) {
    process.stderr.write('fake batch command: FAKE_BATCH_DIR is not set\n');
    process.exit(2);
  }
  fs.mkdirSync(path.join(d, 'jobs'), { recursive: true });
  return d;
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs fn while holding the directory lock (mkdir-based, stale after 10 s). */
export function withLock(dir, fn) {
  const lock = path.join(dir, '.lock');
  for (let i = 0; ; i++) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      try {
        const st = fs.statSync(lock);
        if (Date.now() - st.mtimeMs > 10_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (i > 4000) throw new Error('fake batch: lock timeout');
      sleepSync(3);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

export function readJson(file, dflt) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return dflt;
  }
}

export function writeJson(file, obj) {
  const tmp = `${file}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(tmp, JSON.stringify(obj, null, 1));
  fs.renameSync(tmp, file);
}

export function behavior(dir) {
  return readJson(path.join(dir, 'behavior.json'), {});
}

/** Appends one invocation to calls.jsonl. */
export function logCall(dir, cmd, args, extra = {}) {
  fs.appendFileSync(
    path.join(dir, 'calls.jsonl'),
    `${JSON.stringify({ cmd, args, at: Date.now(), ...extra })}\n`,
  );
}

/** Next id of a counter (under the lock). */
export function nextId(dir, name, start, count = 1) {
  const file = path.join(dir, 'counters.json');
  const c = readJson(file, {});
  const id = c[name] ?? start;
  c[name] = id + count;
  writeJson(file, c);
  return id;
}

/**
 * Takes the next one-shot output for `cmd` from behavior.json `inject[cmd]` (an array of
 * {stdout, stderr, stdoutFile, stderrFile, code, hangMs, times}); files are relative to test/fixtures.
 */
export function takeInjection(dir, cmd) {
  return withLock(dir, () => {
    const file = path.join(dir, 'behavior.json');
    const b = readJson(file, {});
    const list = b.inject?.[cmd];
    if (!Array.isArray(list) || list.length === 0) return undefined;
    const entry = list[0];
    const times = entry.times ?? 1;
    if (times <= 1) list.shift();
    else entry.times = times - 1;
    writeJson(file, b);
    return entry;
  });
}

/** Prints an injected output and exits with its code (after hangMs, if any). */
export async function emitInjection(entry) {
  const read = (f) => fs.readFileSync(path.join(FIXTURES_DIR, f), 'utf8');
  const out = entry.stdoutFile ? read(entry.stdoutFile) : (entry.stdout ?? '');
  const err = entry.stderrFile ? read(entry.stderrFile) : (entry.stderr ?? '');
  if (out) process.stdout.write(out);
  if (err) process.stderr.write(err);
  if (entry.hangMs) await sleep(entry.hangMs);
  process.exitCode = entry.code ?? 0;
}

export function jobFile(dir, key) {
  return path.join(dir, 'jobs', `${encodeURIComponent(key)}.json`);
}

export function runDir(dir, key) {
  return path.join(dir, 'run', encodeURIComponent(key));
}

function marker(d, name) {
  try {
    return fs.readFileSync(path.join(d, name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Merges what the runner recorded (start, pid, end, exit) into a job record. */
export function hydrate(dir, job) {
  if (!job) return job;
  const d = runDir(dir, job.key);
  const start = marker(d, 'start');
  const pid = marker(d, 'pid');
  const end = marker(d, 'end');
  const exit = marker(d, 'exit');
  if (start !== undefined) {
    job.startTime = Number(start);
    if (job.state === 'queued') {
      job.state = 'running';
      job.stateTime = job.startTime;
    }
  }
  if (pid !== undefined) job.pid = Number(pid);
  if (exit !== undefined) {
    job.exitCode = Number(exit);
    job.endTime = Number(end ?? Date.now());
    job.pid = undefined;
    if (job.state === 'queued' || job.state === 'running') {
      job.state = 'exited';
      job.stateTime = job.endTime;
    }
  }
  return job;
}

export function loadJob(dir, key) {
  return hydrate(dir, readJson(jobFile(dir, key), undefined));
}

export function saveJob(dir, job) {
  writeJson(jobFile(dir, job.key), job);
}

export function listJobs(dir, system) {
  const out = [];
  for (const f of fs.readdirSync(path.join(dir, 'jobs'))) {
    if (!f.endsWith('.json')) continue;
    const j = hydrate(dir, readJson(path.join(dir, 'jobs', f), undefined));
    if (j && (!system || j.system === system)) out.push(j);
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Updates one job record under the lock; fn may return false to skip saving. */
export function updateJob(dir, key, fn) {
  return withLock(dir, () => {
    const job = loadJob(dir, key);
    if (!job) return undefined;
    if (fn(job) === false) return job;
    saveJob(dir, job);
    return job;
  });
}

export function currentUser() {
  return process.env.USER || process.env.LOGNAME || os.userInfo().username;
}

/** A new job record (not yet saved). */
export function newJob(dir, fields) {
  const now = Date.now();
  return {
    seq: nextId(dir, 'seq', 1),
    state: 'queued',
    submitTime: now,
    stateTime: now,
    owner: currentUser(),
    env: {},
    ...fields,
  };
}

/** Starts the detached shell runner of a queued job (runner.sh). */
export function startRunner(dir, job) {
  const b = behavior(dir);
  const d = runDir(dir, job.key);
  fs.mkdirSync(d, { recursive: true });
  const child = spawn(
    '/bin/sh',
    [
      path.join(here, 'runner.sh'),
      d,
      job.script,
      String((b.startDelayMs ?? 0) / 1000),
      String(Math.ceil((b.maxRuntimeMs ?? 180_000) / 1000)),
    ],
    {
      detached: true,
      stdio: 'ignore',
      cwd: job.cwd || dir,
      env: { ...process.env, ...job.env },
    },
  );
  child.unref();
}

/** Sends a signal to a running job's process group. */
export function signalJob(job, signal) {
  if (!job.pid) return false;
  try {
    process.kill(-job.pid, signal);
    return true;
  } catch {
    try {
      process.kill(job.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Kills a job: marks it removed (with who/why) and sends SIGTERM to a running one. */
export function removeJob(dir, key, how) {
  return updateJob(dir, key, (job) => {
    const wasRunning = job.state === 'running';
    job.removed = { at: Date.now(), wasRunning, ...how };
    if (job.state === 'queued' || job.state === 'held' || job.state === 'running') {
      job.state = 'removed';
      job.stateTime = Date.now();
    }
    const d = runDir(dir, key);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'removed'), `${Date.now()}\n`);
    if (wasRunning) signalJob(job, 'SIGTERM');
  });
}

/** Sorted by key, case-insensitively (HTCondor's classad::References order). */
export function sortKeysCaseInsensitive(keys) {
  return [...keys].sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Parses argv into flags (with values) and positionals, given the set of flags that take a value. */
export function parseArgs(argv, withValue, multi = new Set()) {
  const flags = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      if (withValue.has(a)) {
        const v = argv[++i];
        if (multi.has(a)) (flags[a] ??= []).push(v);
        else flags[a] = v;
      } else {
        flags[a] = true;
      }
    } else {
      positional.push(a);
    }
  }
  return { flags, positional };
}

export function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}
