/**
 * Local backend: each job is a detached process (`/bin/sh <wrapper script>` in its own session and process
 * group, stdout/stderr to the JobSpec paths), so jobs survive a restart of the loop. Linux (/proc).
 *
 * Concurrency: at most `maxRunning` live jobs (default: the number of CPUs). Jobs beyond it are answered as
 * `deferred` by submit — the loop submits them again in a later pass; there is no queue of our own.
 *
 * Native id: `local:<hostname>:<pid>:<starttime>` — starttime is field 22 of /proc/<pid>/stat (clock ticks
 * since boot), so a recycled PID is never taken for the job.
 *
 * Registry: `<stateDir>/local-jobs/<name>.json` (id, pid, start time, exit-code file, …) and the job's script
 * `<name>.sh`, written at submit; `find(names)` reads it after a restart. status: process alive → running;
 * else the exit-code file → done/failed (cancelled when runctrl cancelled it); else unknown.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readExitCodeFile, stateFromExitCode } from './common.js';
import type { Backend, JobSpec, JobState, Submitted, SubmitResult, TrackedJob } from './types.js';
import { jobScript, shq } from './wrapper.js';

export interface LocalOptions {
  /** runctrl's state directory; the registry is `<stateDir>/local-jobs/`. */
  stateDir: string;
  /** Environment of the jobs (before the JobSpec's own env); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Live jobs at most (default: number of CPUs). */
  maxRunning?: number;
}

export interface LocalJobRecord {
  id: string;
  name: string;
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat; '0' when unknown. */
  start: string;
  exitCodeFile: string;
  stdout: string;
  stderr: string;
  submittedAt: number;
  cancelledAt?: number;
}

/** Start time (clock ticks since boot) and state letter of a process, from /proc/<pid>/stat. */
export function procStat(pid: number): { start: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** Parses /proc/<pid>/stat (the command name may contain spaces and parentheses). */
export function parseProcStat(text: string): { start: string; state: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { start, state };
}

/** `local:<host>:<pid>:<start>` → parts; undefined when malformed. */
export function parseLocalId(id: string): { host: string; pid: number; start: string } | undefined {
  const m = /^local:([^:]+):(\d+):(\d+)$/.exec(id);
  if (!m) return undefined;
  return { host: m[1] as string, pid: Number(m[2]), start: m[3] as string };
}

/** A job name as a file name (names are `[A-Za-z0-9_.-]`; anything else is %-escaped). */
function fileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.startsWith('.') ? `%2e${safe.slice(1)}` : safe;
}

export class LocalBackend implements Backend {
  readonly name = 'local';
  private readonly dir: string;
  private readonly host = os.hostname();
  private readonly maxRunning: number;
  /** Registry entries by file name, with the ones known dead (dead stays dead). */
  private readonly records = new Map<string, LocalJobRecord>();
  private readonly dead = new Set<string>();

  constructor(private readonly opts: LocalOptions) {
    this.dir = path.join(opts.stateDir, 'local-jobs');
    this.maxRunning = Math.max(1, opts.maxRunning ?? os.availableParallelism());
  }

  /** Alive, and the same process (start time matches, not a zombie). */
  private alive(pid: number, start: string): boolean {
    const st = procStat(pid);
    if (!st) return false;
    if (st.state === 'Z' || st.state === 'X') return false;
    return start === '0' ? true : st.start === start;
  }

  private async loadRecords(): Promise<void> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch {
      return;
    }
    for (const f of files) {
      if (!f.endsWith('.json') || this.records.has(f)) continue;
      const rec = await this.readRecord(path.join(this.dir, f));
      if (rec) this.records.set(f, rec);
    }
  }

  private async readRecord(file: string): Promise<LocalJobRecord | undefined> {
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalJobRecord>;
      if (typeof data.id === 'string' && typeof data.name === 'string' && typeof data.pid === 'number') {
        return data as LocalJobRecord;
      }
    } catch {
      // being written, or not ours
    }
    return undefined;
  }

  private async writeRecord(rec: LocalJobRecord): Promise<void> {
    const f = `${fileName(rec.name)}.json`;
    const tmp = path.join(this.dir, `.${f}.${process.pid}.tmp`);
    await writeFile(tmp, JSON.stringify(rec) + '\n');
    await rename(tmp, path.join(this.dir, f));
    this.records.set(f, rec);
    this.dead.delete(f);
  }

  /** Registry entries whose process is alive on this host. */
  private async live(): Promise<LocalJobRecord[]> {
    await this.loadRecords();
    const out: LocalJobRecord[] = [];
    for (const [f, rec] of this.records) {
      if (this.dead.has(f)) continue;
      if (rec.host === this.host && this.alive(rec.pid, rec.start)) out.push(rec);
      else this.dead.add(f);
    }
    return out;
  }

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    const result: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    if (jobs.length === 0) return result;
    await mkdir(this.dir, { recursive: true });
    let running = (await this.live()).length;
    for (const job of jobs) {
      if (running >= this.maxRunning) {
        result.deferred.push({
          name: job.name,
          reason: `local limit of ${this.maxRunning} running jobs reached`,
        });
        continue;
      }
      try {
        const rec = await this.start(job);
        result.submitted.push({ name: job.name, id: rec.id });
        running++;
      } catch (err) {
        result.rejected.push({ name: job.name, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return result;
  }

  private async start(job: JobSpec): Promise<LocalJobRecord> {
    const script = path.join(this.dir, `${fileName(job.name)}.sh`);
    // the job's first act is to record its pid: a loop that dies between spawning it and writing the
    // registry entry still finds it by name (see find), so it is never started twice
    const body = jobScript(job).replace(/^#!\/bin\/sh\n/, '');
    await writeFile(script, `#!/bin/sh\necho $$ > ${shq(this.pidFile(job.name))}\n${body}`);
    const out = openSync(job.stdout, 'w');
    let err = out;
    try {
      if (job.stderr !== job.stdout) err = openSync(job.stderr, 'w');
      const child = spawn('/bin/sh', [script], {
        detached: true,
        stdio: ['ignore', out, err],
        cwd: job.workDir,
        env: this.opts.env ?? process.env,
      });
      child.on('error', () => undefined);
      child.unref();
      const pid = child.pid;
      if (pid === undefined) throw new Error(`could not start /bin/sh for ${job.name}`);
      // Read at once: the child cannot have been reaped before the event loop turns.
      const start = procStat(pid)?.start ?? '0';
      const rec: LocalJobRecord = {
        id: `local:${this.host}:${pid}:${start}`,
        name: job.name,
        host: this.host,
        pid,
        start,
        exitCodeFile: job.exitCodeFile,
        stdout: job.stdout,
        stderr: job.stderr,
        submittedAt: Date.now(),
      };
      await this.writeRecord(rec);
      return rec;
    } finally {
      closeSync(out);
      if (err !== out) closeSync(err);
    }
  }

  private async recordOf(name: string): Promise<LocalJobRecord | undefined> {
    const f = `${fileName(name)}.json`;
    return this.records.get(f) ?? (await this.readRecord(path.join(this.dir, f)));
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    for (const job of jobs) {
      const p = parseLocalId(job.id);
      if (p && p.host === this.host && this.alive(p.pid, p.start)) {
        out.set(job.id, { state: 'running' });
        continue;
      }
      const code = await readExitCodeFile(job.exitCodeFile);
      if (code === undefined) {
        // SIGTERM before the wrapper set its trap (just started) leaves no exit-code file.
        const rec = p?.host === this.host ? await this.recordOf(job.name) : undefined;
        if (rec?.id === job.id && rec.cancelledAt !== undefined) {
          out.set(job.id, { state: 'cancelled', reason: 'cancelled by runctrl (no exit-code file)' });
          continue;
        }
        out.set(job.id, {
          state: 'unknown',
          reason:
            p && p.host !== this.host
              ? `a local job of host ${p.host}: no exit-code file`
              : 'process gone, no exit-code file',
        });
        continue;
      }
      const rec = await this.recordOf(job.name);
      if (code !== 0 && rec?.id === job.id && rec.cancelledAt !== undefined) {
        out.set(job.id, { state: 'cancelled', exitCode: code, reason: 'cancelled by runctrl' });
      } else {
        out.set(job.id, stateFromExitCode(code));
      }
    }
    return out;
  }

  async cancel(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.loadRecords();
    const byId = new Map([...this.records.values()].map((r) => [r.id, r]));
    for (const id of ids) {
      const p = parseLocalId(id);
      if (!p || p.host !== this.host || !this.alive(p.pid, p.start)) continue;
      // Recorded first, so a status right after the job's end already says cancelled.
      const rec = byId.get(id);
      if (rec) await this.writeRecord({ ...rec, cancelledAt: Date.now() });
      try {
        process.kill(-p.pid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
  }

  async find(names: string[]): Promise<Submitted[]> {
    const out: Submitted[] = [];
    for (const name of names) {
      const rec = (await this.recordOf(name)) ?? (await this.recoverFromPidFile(name));
      if (rec) out.push({ name: rec.name, id: rec.id });
    }
    return out;
  }

  private pidFile(name: string): string {
    return path.join(this.dir, `${fileName(name)}.pid`);
  }

  /**
   * A job spawned just before a crash has no registry entry but has written its pid file: register it.
   * Its process is taken as the job's only when its command line runs the job's script; otherwise the
   * process is gone and the exit-code file will tell.
   */
  private async recoverFromPidFile(name: string): Promise<LocalJobRecord | undefined> {
    let pid: number;
    try {
      pid = Number((await readFile(this.pidFile(name), 'utf8')).trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const script = path.join(this.dir, `${fileName(name)}.sh`);
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      /* gone */
    }
    const ours = cmdline.split('\0').includes(script);
    const start = ours ? (procStat(pid)?.start ?? 'gone') : 'gone';
    const meta = (await readFile(script, 'utf8').catch(() => '')).match(/> '([^']*)'\.tmp\.\$\$/);
    const rec: LocalJobRecord = {
      id: `local:${this.host}:${pid}:${start}`,
      name,
      host: this.host,
      pid,
      start,
      exitCodeFile: meta?.[1] ?? '',
      stdout: '',
      stderr: '',
      submittedAt: Date.now(),
    };
    await mkdir(this.dir, { recursive: true });
    await this.writeRecord(rec);
    return rec;
  }

  async inFlight(): Promise<number> {
    return (await this.live()).length;
  }

  /** The jobs are detached and keep running; nothing to release. Idempotent. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
