/**
 * Failure classes and the retry policy of a workflow (pure): how a failed attempt is retried, with which
 * resources, and whether it counts against max_retries (docs/retry-policy.md).
 *
 * Glossary
 * - failure class: why the batch system says a job failed: `oom` (killed for memory), `timeout` (killed at its
 *   wall-time limit), `node` (node failure, preemption, eviction), `app` (the command's own non-zero exit),
 *   `unknown` (no word on the cause: cancelled, lost, rejected, or recorded before classes existed).
 * - node retry: a retry after a `node` failure; it does not count against max_retries, at most
 *   `max_node_retries` in a row of attempts of one unit.
 */
import { UserError } from '../errors.js';
import type { Resources } from '../backends/types.js';
import { positiveNumber } from './fields.js';
import { mb, minutes } from './resources-text.js';

export const FAILURE_CLASSES = ['oom', 'timeout', 'node', 'app', 'unknown'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export function isFailureClass(s: string): s is FailureClass {
  return (FAILURE_CLASSES as readonly string[]).includes(s);
}

/** Classes a policy can retry on specially (`app` and `unknown` always follow max_retries). */
export const RETRY_ON = ['oom', 'timeout', 'node'] as const;
export type RetryOn = (typeof RETRY_ON)[number];

export interface RetryPolicy {
  on: RetryOn[];
  memoryFactor: number;
  walltimeFactor: number;
  maxMemoryMb?: number;
  maxWalltimeMin?: number;
  /** Node retries (not counted against max_retries) allowed in a row. */
  maxNodeRetries: number;
}

export const DEFAULT_MAX_NODE_RETRIES = 3;

const KNOWN = [
  'on',
  'memory_factor',
  'walltime_factor',
  'max_memory_mb',
  'max_walltime_min',
  'max_node_retries',
];

function factor(o: Record<string, unknown>, k: string, at: string): number {
  const v = o[k] ?? 2;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > 100)
    throw new UserError(`${at}: '${k}' must be a number from 1 to 100 (e.g. 2 doubles the resource)`);
  return v;
}

function parseOn(raw: unknown, at: string): RetryOn[] {
  if (raw === undefined) return [...RETRY_ON];
  const bad = Array.isArray(raw) ? raw.filter((c) => !(RETRY_ON as readonly unknown[]).includes(c)) : [];
  if (!Array.isArray(raw) || bad.length > 0)
    throw new UserError(
      `${at}: 'on' must be a list of failure classes from ${RETRY_ON.join(', ')}${bad.length ? ` (not ${bad.map(String).join(', ')}: app failures always follow max_retries)` : ''}`,
    );
  return [...new Set(raw as RetryOn[])];
}

/** Validates a workflow's `retry` block (`at` names the workflow); the resources are checked against the caps. */
export function parseRetry(raw: unknown, at: string, resources: Resources): RetryPolicy | undefined {
  if (raw === undefined) return undefined;
  const where = `${at}: 'retry'`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(
      `${where} must be an object like {"on": ["oom", "timeout", "node"], "memory_factor": 2}`,
    );
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KNOWN.includes(k)) throw new UserError(`${where}: unknown key '${k}' (known: ${KNOWN.join(', ')})`);
  const nodeRetries = o.max_node_retries ?? DEFAULT_MAX_NODE_RETRIES;
  if (
    typeof nodeRetries !== 'number' ||
    !Number.isInteger(nodeRetries) ||
    nodeRetries < 0 ||
    nodeRetries > 10
  )
    throw new UserError(`${where}: 'max_node_retries' must be an integer from 0 to 10`);
  const p: RetryPolicy = {
    on: parseOn(o.on, where),
    memoryFactor: factor(o, 'memory_factor', where),
    walltimeFactor: factor(o, 'walltime_factor', where),
    maxNodeRetries: nodeRetries,
  };
  const maxMem = positiveNumber(o, 'max_memory_mb', where);
  const maxWall = positiveNumber(o, 'max_walltime_min', where);
  if (maxMem !== undefined) p.maxMemoryMb = maxMem;
  if (maxWall !== undefined) p.maxWalltimeMin = maxWall;
  if (maxMem !== undefined && resources.memoryMb !== undefined && resources.memoryMb > maxMem)
    throw new UserError(
      `${where}: 'max_memory_mb' ${maxMem} is below the workflow's memory_mb ${resources.memoryMb}`,
    );
  if (maxWall !== undefined && resources.walltimeMin !== undefined && resources.walltimeMin > maxWall)
    throw new UserError(
      `${where}: 'max_walltime_min' ${maxWall} is below the workflow's walltime_min ${resources.walltimeMin}`,
    );
  return p;
}

/** The memory and wall time an attempt asked for. */
export interface AttemptResources {
  memoryMb?: number;
  walltimeMin?: number;
}

/** What a failed attempt is, as far as the policy is concerned. */
export interface FailedAttempt {
  attempt: number;
  failureClass?: FailureClass;
  memoryMb?: number;
  walltimeMin?: number;
  nodeRetries?: number;
}

export interface RetryDecision {
  /** False: the attempt fails for good (max_retries spent). */
  retry: boolean;
  /** A node retry: the next attempt does not count against max_retries. */
  free: boolean;
  /** Resources of the next attempt. */
  resources: AttemptResources;
  /** Node retries in a row, including the next attempt's. */
  nodeRetries: number;
  /** One line: what happened and what the next attempt asks, e.g. "attempt 2 ran out of memory at 500 MB: …". */
  text: string;
}

/** The resources an attempt asked for: what its job recorded, else the workflow's. */
export function resourcesOf(spec: { resources: Resources }, job: AttemptResources): AttemptResources {
  const out: AttemptResources = {};
  const mem = job.memoryMb ?? spec.resources.memoryMb;
  const wall = job.walltimeMin ?? spec.resources.walltimeMin;
  if (mem !== undefined) out.memoryMb = mem;
  if (wall !== undefined) out.walltimeMin = wall;
  return out;
}

/** A grown resource: ×factor, capped, kept to 6 significant digits (0.05 × 2 = 0.1, not 0.1000000001). */
function grow(v: number, f: number, max: number | undefined): number {
  const g = Number((v * f).toPrecision(6));
  return max === undefined ? g : Math.min(Math.max(v, max), g);
}

/** What grows for a class: its resource, factor, cap and how they read. */
const GROWS = {
  oom: { key: 'memoryMb', name: 'memory_mb', cap: 'max_memory_mb', text: mb },
  timeout: { key: 'walltimeMin', name: 'walltime_min', cap: 'max_walltime_min', text: minutes },
} as const;

/** The grown resource of an oom or timeout retry, and what the next attempt asks (e.g. `1000 MB`). */
function growBy(
  p: RetryPolicy,
  cls: 'oom' | 'timeout',
  prev: AttemptResources,
): { resources: AttemptResources; asks: string } {
  const g = GROWS[cls];
  const v = prev[g.key];
  if (v === undefined) return { resources: {}, asks: `the same (no ${g.name} to grow)` };
  const [factor, max] =
    cls === 'oom' ? [p.memoryFactor, p.maxMemoryMb] : [p.walltimeFactor, p.maxWalltimeMin];
  const n = grow(v, factor, max);
  return { resources: { [g.key]: n }, asks: n > v ? g.text(n) : `the same ${g.text(n)} (${g.cap})` };
}

const WHAT: Record<FailureClass, string> = {
  oom: 'ran out of memory',
  timeout: 'ran out of time',
  node: 'lost its node',
  app: 'failed',
  unknown: 'failed',
};

/** How a failed attempt reads: "attempt 2 ran out of memory at 500 MB". */
export function failedText(a: FailedAttempt, res: AttemptResources): string {
  const cls = a.failureClass ?? 'unknown';
  const at =
    cls === 'oom' ? ` at ${mb(res.memoryMb)}` : cls === 'timeout' ? ` at ${minutes(res.walltimeMin)}` : '';
  return `attempt ${a.attempt} ${WHAT[cls]}${at}`;
}

/**
 * The retry of a failed attempt under the workflow's policy: `tries` attempts were made (counted) since the pair
 * was last set new, `maxRetries` are allowed. Without a policy every class follows max_retries with the same
 * resources (as before policies existed).
 */
export function decideRetry(
  spec: { resources: Resources; maxRetries: number; retry?: RetryPolicy },
  failed: FailedAttempt,
  tries: number,
): RetryDecision {
  const p = spec.retry;
  const cls = failed.failureClass ?? 'unknown';
  const prev = resourcesOf(spec, failed);
  const head = failedText(failed, prev);
  const next = `attempt ${failed.attempt + 1}`;
  const nodeRetries = failed.nodeRetries ?? 0;
  if (p && cls === 'node' && p.on.includes('node') && nodeRetries < p.maxNodeRetries)
    return {
      retry: true,
      free: true,
      resources: prev,
      nodeRetries: nodeRetries + 1,
      text: `${head}: ${next} runs again, not counted against max_retries (node retry ${nodeRetries + 1} of ${p.maxNodeRetries})`,
    };
  if (tries > spec.maxRetries)
    return {
      retry: false,
      free: false,
      resources: prev,
      nodeRetries,
      text: `${head} (${tries} tries, max_retries ${spec.maxRetries})`,
    };
  const grown =
    p && (cls === 'oom' || cls === 'timeout') && p.on.includes(cls) ? growBy(p, cls, prev) : undefined;
  const asks = grown ? `${next} asks ${grown.asks}` : `${next} asks the same`;
  const res = grown ? { ...prev, ...grown.resources } : prev;
  return {
    retry: true,
    free: false,
    resources: res,
    nodeRetries,
    text: `${head}: ${asks} (try ${tries + 1} of ${spec.maxRetries + 1})`,
  };
}
