/**
 * Failures grouped by cause (pure): per work unit its latest failed attempt, with the earlier failed attempts
 * it superseded folded under it; units grouped by cause (the exit code, or the backend's reason, plus the last
 * non-empty stderr line), numbers and run ids normalised so that the same failure of many runs is one group.
 */
import type { JobRecord } from './jobs.js';

export interface FailedJob {
  name: string;
  workflow: string;
  unit: string;
  runs: number[];
  attempt: number;
  time: number;
  backend: string;
  nativeId: string;
  exitCode: number | null;
  reason: string;
  /** The last non-empty line of its stderr ('' when unknown or not read). */
  stderrLine: string;
}

export interface FailureEntry extends FailedJob {
  /** Earlier failed attempts of the same unit, newest first. */
  superseded: FailedJob[];
}

export interface FailureGroup {
  /** The normalised cause: `exit 65 · cannot open file N` (digits → N). */
  cause: string;
  /** The cause as one of its jobs said it (the newest). */
  sample: { reason: string; stderrLine: string };
  /** Units failing with this cause now, and failed jobs including the superseded ones. */
  count: number;
  jobs: number;
  first: number;
  last: number;
  workflows: string[];
  runs: number[];
  /** The units, newest first (at most `maxEntries`; `count` says how many there are). */
  entries: FailureEntry[];
}

/** Digits (and hex ids) replaced by N, whitespace collapsed, capped. */
export function normaliseCause(s: string): string {
  return s
    .replace(/\b0x[0-9a-f]+\b/gi, 'N')
    .replace(/\d+(?:[.,]\d+)*/g, 'N')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

export function causeOf(j: Pick<FailedJob, 'exitCode' | 'reason' | 'stderrLine'>): string {
  const firstLine = j.reason.split('\n')[0]?.trim() ?? '';
  const head = j.exitCode !== null ? `exit ${j.exitCode}` : normaliseCause(firstLine) || 'no reason recorded';
  const line = normaliseCause(j.stderrLine);
  return line ? `${head} · ${line}` : head;
}

/** Per unit whose latest attempt failed: that job, and the failed attempts before it. */
export function currentFailures(jobs: Iterable<JobRecord>): { head: JobRecord; superseded: JobRecord[] }[] {
  const byUnit = new Map<string, JobRecord[]>();
  for (const j of jobs) {
    const k = `${j.workflow}\u0000${j.unit}`;
    const l = byUnit.get(k);
    if (l) l.push(j);
    else byUnit.set(k, [j]);
  }
  const out: { head: JobRecord; superseded: JobRecord[] }[] = [];
  for (const l of byUnit.values()) {
    l.sort((a, b) => b.attempt - a.attempt || b.time - a.time);
    const [head, ...rest] = l;
    if (head?.status !== 'failed') continue;
    out.push({ head, superseded: rest.filter((j) => j.status === 'failed') });
  }
  return out;
}

export function failedJob(j: JobRecord, stderrLine = ''): FailedJob {
  return {
    name: j.name,
    workflow: j.workflow,
    unit: j.unit,
    runs: j.runs,
    attempt: j.attempt,
    time: j.time,
    backend: j.backend,
    nativeId: j.nativeId,
    exitCode: j.exitCode,
    reason: j.reason,
    stderrLine,
  };
}

/** Groups entries by cause, the largest group first (then the latest). */
export function groupFailures(entries: readonly FailureEntry[], maxEntries = 200): FailureGroup[] {
  const groups = new Map<string, FailureEntry[]>();
  for (const e of entries) {
    const k = causeOf(e);
    const l = groups.get(k);
    if (l) l.push(e);
    else groups.set(k, [e]);
  }
  const out: FailureGroup[] = [];
  for (const [cause, es] of groups) {
    es.sort((a, b) => b.time - a.time);
    const all = es.flatMap((e) => [e, ...e.superseded]);
    const newest = es[0];
    out.push({
      cause,
      sample: { reason: newest?.reason ?? '', stderrLine: newest?.stderrLine ?? '' },
      count: es.length,
      jobs: all.length,
      first: all.reduce((m, j) => Math.min(m, j.time), Infinity),
      last: all.reduce((m, j) => Math.max(m, j.time), 0),
      workflows: [...new Set(es.map((e) => e.workflow))].sort(),
      runs: [...new Set(es.flatMap((e) => e.runs))].sort((a, b) => a - b),
      entries: es.slice(0, maxEntries),
    });
  }
  return out.sort((a, b) => b.count - a.count || b.last - a.last || (a.cause < b.cause ? -1 : 1));
}
