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

const QUOTED_SPECIAL = /["\\]/g;

export function fieldText(v: FieldValue): string {
  switch (typeof v) {
    case 'string':
      // the escaping of escape.quoted (@influxdata/influxdb-client): " and \ get a backslash; done natively,
      // as string fields such as the quality JSON are full of quotes and the library escapes char by char
      return v.indexOf('"') < 0 && v.indexOf('\\') < 0
        ? '"' + v + '"'
        : '"' + v.replace(QUOTED_SPECIAL, '\\$&') + '"';
    case 'boolean':
      return v ? 'T' : 'F';
    case 'number':
      if (!Number.isFinite(v)) throw new InternalError(`non-finite float field value ${v}`);
      return '' + v;
    default:
      if (!Number.isSafeInteger(v.int)) throw new InternalError(`integer field value out of range: ${v.int}`);
      return v.int + 'i';
  }
}

/** The series identity of a point: measurement and tags, keys sorted. */
function seriesKey(p: PointSpec): string {
  const keys = Object.keys(p.tags);
  if (keys.length > 1) keys.sort();
  let k = p.measurement;
  for (const t of keys) k += `\u0000${t}=${p.tags[t] ?? ''}`;
  return k;
}

/** `measurement,tag=value,…` escaped, tags sorted by key (the order InfluxDB recommends). */
export function seriesPrefix(p: Pick<PointSpec, 'measurement' | 'tags'>): string {
  let line = escape.measurement(p.measurement);
  for (const k of Object.keys(p.tags).sort()) {
    const v = p.tags[k];
    if (v === undefined || v === '') throw new InternalError(`empty tag ${k} on ${p.measurement}`);
    line += `,${escape.tag(k)}=${escape.tag(v)}`;
  }
  return line;
}

/**
 * Per series: its escaped line prefix and the sub-millisecond keys used in the current millisecond — a
 * small set at first, a bitmap over the whole key space once the series has many points in this write.
 */
interface SeriesState {
  prefix: string;
  few: Set<number>;
  bits?: Uint8Array;
  /** The field keys (those given a value) of the series' last point, and each with its separator escaped. */
  layout?: { keys: string[]; heads: string[] };
}

const BITMAP_FROM = 2048;

/** The zeros that pad a sub-millisecond key of n digits to 6. */
const PADS = ['000000', '00000', '0000', '000', '00', '0', ''];

/** Marks a key as used; false when it already was. */
function claim(st: SeriesState, sub: number): boolean {
  const bits = st.bits;
  if (bits) {
    const byte = sub >>> 3;
    const bit = 1 << (sub & 7);
    const b = bits[byte] ?? 0;
    if (b & bit) return false;
    bits[byte] = b | bit;
    return true;
  }
  if (st.few.has(sub)) return false;
  st.few.add(sub);
  if (st.few.size >= BITMAP_FROM) {
    const b = new Uint8Array(KEY_SPACE / 8);
    for (const k of st.few) b[k >>> 3] = (b[k >>> 3] ?? 0) | (1 << (k & 7));
    st.bits = b;
    st.few.clear();
  }
  return true;
}

function release(st: SeriesState): void {
  st.few.clear();
  st.bits?.fill(0);
}

/** A path measurement → tag key → tag value → … in the order the point lists its tags. */
interface TrieNode {
  next: Map<string, TrieNode>;
  state?: SeriesState;
}

const newNode = (): TrieNode => ({ next: new Map() });

/**
 * Encodes points one at a time, keeping every timestamp it hands out unique per series across calls, so a
 * large write can be encoded batch by batch (while the previous batch is on the wire).
 * Hot path of large injections (10⁵–10⁶ points): the series is found through a trie of the strings the
 * point already holds (no key building), its escaped prefix and the field keys are escaped once, the
 * uniqueness check keeps a bitmap of the keys of each busy series, and the nanosecond timestamp is built as text
 * (`ms` followed by the 6-digit key, which equals ms × 10⁶ + key).
 */
export class LineEncoder {
  /** The millisecond of the first point. */
  readonly firstMs: number;
  private ms: number;
  private msText: string;
  private readonly trie = newNode();
  /** Canonical series key (tags sorted) → state, shared by tries paths that differ only in tag order. */
  private readonly series = new Map<string, SeriesState>();
  private readonly fieldKeys = new Map<string, string>();

  constructor() {
    this.ms = nextMs();
    this.firstMs = this.ms;
    this.msText = String(this.ms);
  }

  private seriesOf(p: PointSpec): SeriesState {
    let node = this.trie;
    const step = (s: string): void => {
      let n = node.next.get(s);
      if (!n) node.next.set(s, (n = newNode()));
      node = n;
    };
    step(p.measurement);
    for (const k in p.tags) {
      step(k);
      step(p.tags[k] ?? '');
    }
    if (node.state) return node.state;
    const id = seriesKey(p);
    let st = this.series.get(id);
    if (!st) this.series.set(id, (st = { prefix: seriesPrefix(p), few: new Set<number>() }));
    node.state = st;
    return st;
  }

  private fieldKey(k: string): string {
    let ek = this.fieldKeys.get(k);
    if (ek === undefined) this.fieldKeys.set(k, (ek = escape.tag(k) + '='));
    return ek;
  }

  private layoutOf(p: PointSpec): { keys: string[]; heads: string[] } {
    const keys = Object.keys(p.fields).filter((k) => p.fields[k] !== undefined);
    return { keys, heads: keys.map((k, i) => (i === 0 ? ' ' : ',') + this.fieldKey(k)) };
  }

  line(p: PointSpec): string {
    const sub = ((Math.trunc(p.key) % KEY_SPACE) + KEY_SPACE) % KEY_SPACE;
    const st = this.seriesOf(p);
    if (!claim(st, sub)) {
      // a second point of this entity: move on to the next millisecond (for every series)
      this.ms = nextMs();
      this.msText = String(this.ms);
      for (const x of this.series.values()) release(x);
      claim(st, sub);
    }
    // parts joined once give a flat string: no rope to flatten again when the batch is joined
    const parts: string[] = [st.prefix];
    // the points of a series mostly share their field keys: ' key=' / ',key=' come from its last layout
    const lay = st.layout;
    let same = lay !== undefined;
    let n = 0;
    for (const k in p.fields) {
      const v = p.fields[k];
      if (v === undefined) continue;
      let head = same ? lay?.heads[n] : undefined;
      if (head === undefined || lay?.keys[n] !== k) {
        same = false;
        head = (n === 0 ? ' ' : ',') + this.fieldKey(k);
      }
      parts.push(head, fieldText(v));
      n++;
    }
    if (n === 0) throw new InternalError(`point without fields on ${p.measurement}`);
    if (!same || n !== lay?.keys.length) st.layout = this.layoutOf(p);
    const subText = String(sub);
    parts.push(' ', this.msText, PADS[subText.length] ?? '', subText);
    return parts.join('');
  }
}

/** Encodes points to line protocol with unique timestamps; returns lines and the millisecond used. */
export function encodePoints(points: readonly PointSpec[]): { lines: string[]; ms: number } {
  const enc = new LineEncoder();
  const lines = new Array<string>(points.length);
  for (let i = 0; i < points.length; i++) lines[i] = enc.line(points[i] as PointSpec);
  return { lines, ms: enc.firstMs };
}

/**
 * A point without a timestamp: InfluxDB stamps it on arrival, so the points of several hosts are ordered by
 * one clock, the server's (the lease's claims, see automation/lease.ts). Only for series where two points
 * never arrive in the same nanosecond.
 */
export function serverStampedLine(p: PointSpec): string {
  let line = seriesPrefix(p);
  let sep = ' ';
  for (const k of Object.keys(p.fields)) {
    const v = p.fields[k];
    if (v === undefined) continue;
    line += `${sep}${escape.tag(k)}=${fieldText(v)}`;
    sep = ',';
  }
  if (sep === ' ') throw new InternalError(`point without fields on ${p.measurement}`);
  return line;
}
