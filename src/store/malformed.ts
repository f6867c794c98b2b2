/**
 * Malformed stored points (docs/malformed-points.md). Anyone holding the loop's credentials can write any point,
 * so every decoder of a stored value returns either the typed value or one `Malformed` outcome, never throws.
 * A reader skips a malformed point (the entity keeps its last valid point), collects it as a MalformedPoint,
 * and the store warns once per process per point with the statement that deletes it.
 */
import { literal, ident } from './influxql.js';
import type { Scalar } from './influx.js';

export type Row = Record<string, Scalar>;

/** The one outcome of a decoder given a point it cannot read. */
export class Malformed {
  constructor(readonly why: string) {}
}

export type Decoded<T> = T | Malformed;

export function isMalformed(v: unknown): v is Malformed {
  return v instanceof Malformed;
}

/** Thrown by the field readers below inside a decoder; turned into Malformed by `decoder`. */
class BadField extends Error {}

const bad = (k: string, what: string, v: Scalar | undefined): never => {
  const shown = typeof v === 'string' ? `'${v.length > 60 ? `${v.slice(0, 60)}…` : v}'` : String(v);
  throw new BadField(`field ${k} ${what} (${typeof v} ${shown})`);
};

/** Field readers: a missing field (null) takes the default, a field of another type makes the point malformed. */
export const f = {
  str(r: Row, k: string): string {
    const v = r[k];
    if (v === null || v === undefined) return '';
    return typeof v === 'string' ? v : bad(k, 'is not a string', v);
  },
  /** A string that must be present and non-empty (tags, names, enums). */
  need(r: Row, k: string): string {
    const v = r[k];
    return typeof v === 'string' && v !== '' ? v : bad(k, 'is missing', v);
  },
  int(r: Row, k: string, d: number): number {
    const v = r[k];
    if (v === null || v === undefined) return d;
    return Number.isSafeInteger(v) ? (v as number) : bad(k, 'is not an integer', v);
  },
  /** A non-negative integer that must be present (run numbers). */
  run(r: Row, k: string): number {
    const v = r[k];
    return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : bad(k, 'is not a run number', v);
  },
  num(r: Row, k: string, d: number): number {
    const v = r[k];
    if (v === null || v === undefined) return d;
    return typeof v === 'number' && Number.isFinite(v) ? v : bad(k, 'is not a finite number', v);
  },
  bool(r: Row, k: string): boolean {
    const v = r[k];
    if (v === null || v === undefined) return false;
    return typeof v === 'boolean' ? v : bad(k, 'is not a boolean', v);
  },
  /** A comma list of strings. */
  list(r: Row, k: string): string[] {
    const s = f.str(r, k);
    return s === '' ? [] : s.split(',');
  },
  /** A comma list of run numbers. */
  runs(r: Row, k: string): number[] {
    return f.list(r, k).map((x) => (/^\d{1,15}$/.test(x) ? Number(x) : bad(k, 'holds a non-run', x)));
  },
  json(r: Row, k: string, empty: unknown): unknown {
    const s = f.str(r, k);
    if (s === '') return empty;
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return bad(k, 'is not JSON', s);
    }
  },
};

/** Makes the point being decoded malformed, with this reason. */
export function fail(why: string): never {
  throw new BadField(why);
}

/** A decoder of rows: any failure inside `fn` is the one Malformed outcome, never an exception. */
export function decoder<T>(fn: (r: Row) => T): (r: Row) => Decoded<T> {
  return (r) => {
    try {
      return fn(r);
    } catch (err) {
      return new Malformed(err instanceof Error ? err.message : String(err));
    }
  };
}

export interface MalformedPoint {
  measurement: string;
  /** The tags of the point as far as the reader knows them (campaign, workflow, …). */
  tags: Record<string, string>;
  /** Unix ms of the point, as read. */
  time: number;
  /** The run field, when it is readable. */
  run?: number;
  /** Entity the point would have set when readable (a newer valid point of it supersedes the malformed one). */
  entity?: string;
  why: string;
  /** The point's exact time (RFC 3339, nanoseconds), once the store has looked it up. */
  exact?: string;
}

/**
 * A malformed point as read: its tags (each key of `tags` with its value, or the row's column of that name when the
 * value is undefined), time, run and entity (entityOf, when it can tell).
 */
export function malformedPoint(
  measurement: string,
  r: Row,
  tags: Record<string, string | undefined>,
  why: string,
  entityOf?: (r: Row) => string | undefined,
): MalformedPoint {
  const t: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) {
    const x = v ?? r[k];
    if (typeof x === 'string' && x !== '') t[k] = x;
  }
  const run = r.run;
  let entity: string | undefined;
  try {
    entity = entityOf?.(r);
  } catch {
    entity = undefined;
  }
  return {
    measurement,
    tags: t,
    time: typeof r.time === 'number' ? r.time : 0,
    ...(Number.isSafeInteger(run) ? { run: run as number } : {}),
    ...(entity !== undefined ? { entity } : {}),
    why,
  };
}

/** The identity of a malformed point for warning once (its exact time when known). */
export function pointId(p: MalformedPoint): string {
  const tags = Object.entries(p.tags)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return [p.measurement, ...tags, p.exact ?? String(p.time), p.run ?? ''].join('\u0000');
}

/** `"tag" = 'value' AND …` for the tags of a point. */
export function tagConditions(tags: Record<string, string>): string[] {
  return Object.keys(tags)
    .sort()
    .map((k) => `${ident(k)} = ${literal(tags[k] ?? '')}`);
}

/** The statement that deletes exactly this point (its exact time, else the millisecond read). */
export function deleteStatement(p: MalformedPoint): string {
  const time = p.exact !== undefined ? literal(p.exact) : `${Math.trunc(p.time)}ms`;
  return `DELETE FROM ${ident(p.measurement)} WHERE ${[...tagConditions(p.tags), `time = ${time}`].join(' AND ')}`;
}

/**
 * Malformed points of one read, folded as rows stream in (oldest first per entity): a valid point of an entity
 * removes the entity's older malformed one (a newer valid point supersedes it), a malformed point is kept.
 */
export class MalformedSet {
  private readonly byKey = new Map<string, MalformedPoint>();

  add(p: MalformedPoint): void {
    this.byKey.set(p.entity ?? pointId(p), p);
  }

  /** A valid point of `entity` was read after the ones before. */
  valid(entity: string): void {
    if (this.byKey.size > 0) this.byKey.delete(entity);
  }

  get size(): number {
    return this.byKey.size;
  }

  list(): MalformedPoint[] {
    return [...this.byKey.values()];
  }
}
