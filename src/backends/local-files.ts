/**
 * The local executor's files under `<stateDir>/local/` (shared by the backend client and the executor):
 *
 *   queue/<token>.json   a queued job (its whole record); claimed by the executor with an atomic rename to
 *   run/<token>.json     a claimed job (its pid is in its claim, jobs/<token>.pid; records of older versions hold it too)
 *   done/<token>.json    an ended job (exit code, cancelled, reason); written before run/ is removed
 *   cancel/<token>       a cancel request (removed once the job is in done/)
 *   names/<name>         the token of the latest submission of a job name (for find)
 *   jobs/<token>.sh      the job script (no secrets); jobs/<token>.pid its pid, claimed by the job itself
 *                        (created exclusively, then written: empty for an instant)
 *   executor.json, executor.log   the running executor (pid, secret variable names) and its output
 *
 * Each state is created before the previous one is removed, so a reader that looks at queue/, then run/,
 * then done/ always finds a job somewhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { atomicWriteSync, stagedWrite } from './common.js';
import type { Resources } from './types.js';

export const DIRS = ['queue', 'run', 'done', 'cancel', 'names', 'jobs'] as const;
export type LocalDir = (typeof DIRS)[number];

export interface QueuedJob {
  token: string;
  id: string;
  name: string;
  script: string;
  exitCodeFile: string;
  cpus: number;
  memoryMb: number;
  /** Names only: the values come from the executor's environment. */
  secretNames: string[];
  submittedAt: number;
  /** walltime_min in seconds: the executor ends the job at it (local-limits.ts); absent: no limit. */
  walltimeS?: number;
  pid?: number;
  /** Field 22 of /proc/<pid>/stat. */
  start?: string;
}

export interface EndedJob extends QueuedJob {
  endedAt: number;
  exitCode?: number;
  cancelled?: boolean;
  reason?: string;
}

export interface Capacity {
  cpus: number;
  memoryMb: number;
  maxRunning: number;
}

/**
 * The files of one state directory. Small local files, read and written with synchronous calls (a few µs
 * each, where a thread-pool round trip costs far more: the executor's time from one job's end to the next
 * job's start is a chain of them); only durable writes (fsync) and directory creation go through the pool.
 */
export class LocalFiles {
  constructor(readonly root: string) {}

  dir(d: LocalDir): string {
    return path.join(this.root, d);
  }

  file(d: LocalDir, token: string): string {
    return path.join(this.root, d, d === 'cancel' || d === 'names' ? token : `${token}.json`);
  }

  script(token: string): string {
    return path.join(this.root, 'jobs', `${token}.sh`);
  }

  pidFile(token: string): string {
    return path.join(this.root, 'jobs', `${token}.pid`);
  }

  async ensure(): Promise<void> {
    await Promise.all(DIRS.map((d) => mkdir(this.dir(d), { recursive: true })));
  }

  /** Tokens in a state directory, in FIFO order. */
  async tokens(d: 'queue' | 'run' | 'done' | 'cancel'): Promise<string[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir(d));
    } catch {
      return [];
    }
    const ext = d === 'cancel' ? '' : '.json';
    return names
      .filter((n) => !n.startsWith('.') && n.endsWith(ext))
      .map((n) => n.slice(0, n.length - ext.length))
      .sort();
  }

  async read<T extends QueuedJob>(d: 'queue' | 'run' | 'done', token: string): Promise<T | undefined> {
    try {
      return JSON.parse(readFileSync(this.file(d, token), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Atomic (temp + rename); durable ones (fsync) off the event loop, so that many can be synced at once. */
  async write(d: LocalDir, token: string, data: unknown, durable = false): Promise<void> {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    if (durable) (await stagedWrite(this.file(d, token), text))();
    else atomicWriteSync(this.file(d, token), text);
  }

  /** A durable write whose file appears when the returned function is called (stagedWrite). */
  stage(d: LocalDir, token: string, data: unknown): Promise<() => void> {
    return stagedWrite(this.file(d, token), typeof data === 'string' ? data : JSON.stringify(data));
  }

  async exists(d: LocalDir, token: string): Promise<boolean> {
    try {
      closeSync(openSync(this.file(d, token), 'r'));
      return true;
    } catch {
      return false;
    }
  }

  /** Moves a job between states atomically; false when it is not there (someone else moved it). */
  async move(from: 'queue', to: 'run', token: string): Promise<boolean> {
    try {
      renameSync(this.file(from, token), this.file(to, token));
      return true;
    } catch {
      return false;
    }
  }

  async remove(d: LocalDir, token: string): Promise<boolean> {
    try {
      unlinkSync(this.file(d, token));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The pid a job claimed for itself (jobs/<token>.pid), if it did. The script creates the file, then writes
   * its pid into it: a file found empty is read again for up to `emptyWaitMs` (the claimer was between the
   * two); one that stays empty belonged to a claimer that died before it ran anything (undefined).
   */
  async claimedPid(token: string, emptyWaitMs = 2_000): Promise<number | undefined> {
    const deadline = Date.now() + emptyWaitMs;
    for (;;) {
      let text: string;
      try {
        text = readFileSync(this.pidFile(token), 'utf8');
      } catch {
        return undefined;
      }
      const pid = Number(text.trim());
      if (Number.isInteger(pid) && pid > 0) return pid;
      if (text.trim() !== '' || Date.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** When the job claimed its pid file, i.e. started (ms); undefined: not claimed. */
  claimedAt(token: string): number | undefined {
    try {
      return statSync(this.pidFile(token)).mtimeMs;
    } catch {
      return undefined;
    }
  }
}

/** fsync of a directory (the renames into it survive a power loss). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The executor's lock: a Linux abstract socket name, bound by the one executor of a state directory and
 * released by the kernel when it dies (even by SIGKILL), so a stale lock cannot exist.
 */
export function lockName(root: string): string {
  const hash = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 32);
  return `\0runctrl-local-${process.getuid?.() ?? 0}-${hash}`;
}

let counter = 0;

/** Unique, and sorting in submission order: `<ms>-<counter>-<random>`. */
export function newToken(): string {
  counter = (counter + 1) % 1_000_000;
  return `${String(Date.now()).padStart(14, '0')}-${String(counter).padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
}

/** `local:<host>:<token>` → parts; undefined when not a queued-job id. */
export function parseQueueId(id: string): { host: string; token: string } | undefined {
  const m = /^local:([^:]+):(\d{14}-\d{6}-[0-9a-f]{6})$/.exec(id);
  return m ? { host: m[1] as string, token: m[2] as string } : undefined;
}

/** A job name as a file name (names are `[A-Za-z0-9_.-]`; anything else is %-escaped). */
export function fileName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.startsWith('.') ? `%2e${safe.slice(1)}` : safe;
}

function positive(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const v = Number((env[key] ?? '').trim());
  return Number.isFinite(v) && v > 0 && (env[key] ?? '').trim() !== '' ? v : undefined;
}

/** The machine's slots: RUNCTRL_LOCAL_CPUS, RUNCTRL_LOCAL_MEMORY_MB, RUNCTRL_LOCAL_MAX_RUNNING override. */
export function capacity(env: NodeJS.ProcessEnv): Capacity {
  return {
    cpus: positive(env, 'RUNCTRL_LOCAL_CPUS') ?? os.cpus().length,
    memoryMb: positive(env, 'RUNCTRL_LOCAL_MEMORY_MB') ?? Math.floor(os.totalmem() / 1024 / 1024),
    maxRunning: Math.floor(positive(env, 'RUNCTRL_LOCAL_MAX_RUNNING') ?? Number.MAX_SAFE_INTEGER),
  };
}

/** What a job asks for (1 cpu and no memory when unsaid). */
export function demand(r: Resources): { cpus: number; memoryMb: number } {
  return { cpus: r.cpus ?? 1, memoryMb: r.memoryMb ?? 0 };
}

/** Why a job can never run on this machine, or undefined. */
export function impossible(d: { cpus: number; memoryMb: number }, cap: Capacity): string | undefined {
  if (d.cpus > cap.cpus)
    return `asks for ${d.cpus} cpus; the local executor has ${cap.cpus} (RUNCTRL_LOCAL_CPUS)`;
  if (d.memoryMb > cap.memoryMb) {
    return `asks for ${d.memoryMb} MB of memory; the local executor has ${cap.memoryMb} MB (RUNCTRL_LOCAL_MEMORY_MB)`;
  }
  return undefined;
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

/** Alive and the same process: start time matches (when known), not a zombie. */
export function alive(pid: number, start?: string): boolean {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return start === undefined || start === '0' || st.start === start;
}

/** Alive and running the given script (a recycled pid runs something else). */
export function runsScript(pid: number, script: string): boolean {
  if (!alive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(script);
  } catch {
    return false;
  }
}

/** Sends SIGTERM to a job's process group; false when it is gone. */
export function terminate(pid: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
