/**
 * Log tails for the run page: only the stdout/stderr paths recorded for that job, only inside the job's own
 * work directory (the directory of its exit-code file) under the job root, never through a symlink out.
 */
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

const inside = (dir: string, p: string): boolean =>
  p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

/** Why a recorded log path may not be read, or undefined when it may. */
export async function refusal(job: JobRecord, file: string, jobRoot: string): Promise<string | undefined> {
  if (!file) return 'no log path recorded';
  if (!path.isAbsolute(file) || file.split(/[\\/]/).includes('..') || file.includes('\0'))
    return 'not a plain absolute path';
  const work = path.dirname(job.exitCodeFile);
  if (!job.exitCodeFile || !path.isAbsolute(work) || path.dirname(file) !== work)
    return "outside the job's work directory";
  try {
    const [root, real] = await Promise.all([realpath(jobRoot), realpath(file)]);
    const realWork = await realpath(work);
    if (!inside(root, realWork) || !inside(realWork, real)) return 'outside the job root (or a symlink out)';
  } catch {
    return 'not readable';
  }
  return undefined;
}

export async function tail(
  job: JobRecord,
  stream: 'stdout' | 'stderr',
  jobRoot: string,
  maxBytes = 64 * 1024,
): Promise<LogTail> {
  const file = job[stream];
  const base = { job: job.name, stream, text: '', size: 0, truncated: false };
  const why = await refusal(job, file, jobRoot);
  if (why) return { ...base, refused: why };
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return { ...base, text: buf.toString('utf8'), size, truncated: size > len };
  } finally {
    await fh.close();
  }
}
