/**
 * Line protocol encoding with unique, ordered timestamps.
 *
 * InfluxDB keeps one point per series and timestamp: a second point with the same series and time
 * silently merges into the first. runctrl's series are coarse (campaign, workflow), so every point
 * carries an entity `key` (usually the run number) that becomes the sub-millisecond part of its
 * nanosecond timestamp: `time = ms * 1e6 + key % 1e6`. The millisecond comes from a process-wide
 * clock that never repeats or goes back, so two writes by one process never share a timestamp, and
 * two points of one batch that would collide are moved to the next millisecond.
 */
import { escape } from '@influxdata/influxdb-client';
import { InternalError } from '../errors.js';

export type FieldValue = string | number | boolean | { int: number };

export interface PointSpec {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue | undefined>;
  /** Entity key, made the sub-millisecond part of the timestamp. */
  key: number;
}

export const KEY_SPACE = 1_000_000;

let lastMs = 0;

/** A millisecond strictly later than the previous one handed out by this process. */
export function nextMs(now: number = Date.now()): number {
  lastMs = Math.max(now, lastMs + 1);
  return lastMs;
}

export function int(n: number): { int: number } {
  return { int: n };
}

function fieldText(v: FieldValue): string {
  if (typeof v === 'string') return escape.quoted(v);
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InternalError(`non-finite float field value ${v}`);
    return String(v);
  }
  if (!Number.isSafeInteger(v.int)) throw new InternalError(`integer field value out of range: ${v.int}`);
  return `${v.int}i`;
}

function toLine(p: PointSpec, tsNs: bigint): string {
  let line = escape.measurement(p.measurement);
  for (const k of Object.keys(p.tags).sort()) {
    const v = p.tags[k];
    if (v === undefined || v === '') throw new InternalError(`empty tag ${k} on ${p.measurement}`);
    line += `,${escape.tag(k)}=${escape.tag(v)}`;
  }
  let sep = ' ';
  for (const [k, v] of Object.entries(p.fields)) {
    if (v === undefined) continue;
    line += `${sep}${escape.tag(k)}=${fieldText(v)}`;
    sep = ',';
  }
  if (sep === ' ') throw new InternalError(`point without fields on ${p.measurement}`);
  return `${line} ${tsNs}`;
}

function seriesKey(p: PointSpec): string {
  return `${p.measurement}\u0000${Object.keys(p.tags)
    .sort()
    .map((k) => `${k}=${p.tags[k]}`)
    .join('\u0000')}`;
}

/** Encodes points to line protocol with unique timestamps; returns lines and the millisecond used. */
export function encodePoints(points: readonly PointSpec[]): { lines: string[]; ms: number } {
  let ms = nextMs();
  const firstMs = ms;
  let seen = new Set<string>();
  const lines: string[] = [];
  for (const p of points) {
    const sub = ((Math.trunc(p.key) % KEY_SPACE) + KEY_SPACE) % KEY_SPACE;
    let id = `${seriesKey(p)}\u0001${sub}`;
    if (seen.has(id)) {
      ms = nextMs();
      seen = new Set<string>();
      id = `${seriesKey(p)}\u0001${sub}`;
    }
    seen.add(id);
    lines.push(toLine(p, BigInt(ms) * 1_000_000n + BigInt(sub)));
  }
  return { lines, ms: firstMs };
}
