/**
 * Log tails for the run page: only the stdout/stderr paths recorded for that job, only inside the job's own
 * work directory (the directory of its exit-code file) under the job root, never through a symlink out; only
 * regular files (a FIFO or a device at a recorded path is refused, never waited on: the file is opened
 * non-blocking and checked after opening), and every read bounded in size and time.
 */
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { JobRecord } from '../domain/jobs.js';

export interface LogTail {
  job: string;
  stream: 'stdout' | 'stderr';
  /** The last `maxBytes` of the file (UTF-8, lossy at the cut). */
  text: string;
  size: number;
  truncated: boolean;
  refused?: string;
}

/** Longest a tail may take (a hung network file system): then it is given up. */
export const TAIL_TIMEOUT_MS = 5000;

const inside = (dir: string, p: string): boolean =>
  p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

/** Why a recorded log path may not be read (a string), or its real path when it may. */
async function check(
  job: JobRecord,
  file: string,
  jobRoot: string,
): Promise<{ why: string } | { real: string }> {
  if (!file) return { why: 'no log path recorded' };
  if (!path.isAbsolute(file) || file.split(/[\\/]/).includes('..') || file.includes('\0'))
    return { why: 'not a plain absolute path' };
  const work = path.dirname(job.exitCodeFile);
  if (!job.exitCodeFile || !path.isAbsolute(work) || path.dirname(file) !== work)
    return { why: "outside the job's work directory" };
  try {
    const [root, real] = await Promise.all([realpath(jobRoot), realpath(file)]);
    const realWork = await realpath(work);
    if (!inside(root, realWork) || !inside(realWork, real))
      return { why: 'outside the job root (or a symlink out)' };
    return { real };
  } catch {
    return { why: 'not readable' };
  }
}

/** Why a recorded log path may not be read, or undefined when it may. */
export async function refusal(job: JobRecord, file: string, jobRoot: string): Promise<string | undefined> {
  const c = await check(job, file, jobRoot);
  return 'why' in c ? c.why : undefined;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function readTail(
  real: string,
  maxBytes: number,
): Promise<{ text: string; size: number; read: number } | string> {
  // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOFOLLOW: the checked real path, not a new link
  const fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) return 'not a regular file';
    const len = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, st.size - len);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), size: st.size, read: bytesRead };
  } finally {
    await fh.close();
  }
}

export async function tail(
  job: JobRecord,
  stream: 'stdout' | 'stderr',
  jobRoot: string,
  maxBytes = 64 * 1024,
  timeoutMs = TAIL_TIMEOUT_MS,
): Promise<LogTail> {
  const file = job[stream];
  const base = { job: job.name, stream, text: '', size: 0, truncated: false };
  const work = (async (): Promise<LogTail> => {
    const c = await check(job, file, jobRoot);
    if ('why' in c) return { ...base, refused: c.why };
    let r: Awaited<ReturnType<typeof readTail>>;
    try {
      r = await readTail(c.real, maxBytes);
    } catch {
      return { ...base, refused: 'not readable' };
    }
    if (typeof r === 'string') return { ...base, refused: r };
    return { ...base, text: r.text, size: r.size, truncated: r.size > r.read };
  })();
  try {
    return await within(work, timeoutMs, 'timeout');
  } catch {
    return { ...base, refused: `not read within ${timeoutMs / 1000} s` };
  }
}
