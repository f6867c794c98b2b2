/**
 * Retention's queries (src/core/retention.ts decides what goes): an index of a campaign's status and job points,
 * range deletes batched several statements a request, the privilege check, the clean-up of series whose newest
 * point is all a read needs (lease claims, loop heartbeats, prune markers) and the prune marker (measurement
 * `prune`, tag campaign: the cutoff before which history was pruned, and what was kept).
 */
import { UserError } from '../errors.js';
import { emptySeries, type NsRange, type SeriesPoints } from '../domain/retention.js';
import { ident, literal } from './influxql.js';
import { JOBEND } from './jobend.js';
import { int, KEY_SPACE } from './lineproto.js';
import { M } from './schema.js';
import type { Store } from './store.js';

export const PRUNE = 'prune';
/** DELETE statements sent in one request (InfluxDB runs them in order; a failed one stops the rest). */
export const DELETES_PER_REQUEST = 100;

/** The sub-millisecond key the encoder gave a point of this entity (a run number; lineproto.ts). */
export function subKey(entity: number): number {
  return ((Math.trunc(entity) % KEY_SPACE) + KEY_SPACE) % KEY_SPACE;
}

/** A series' points with the entity of each (its run) and, for jobs, the job's name. */
export interface IndexedSeries extends SeriesPoints {
  run: number[];
  job: string[];
}

function seriesOf(by: Map<string, IndexedSeries>, workflow: string): IndexedSeries {
  let s = by.get(workflow);
  if (!s) by.set(workflow, (s = { ...emptySeries(), run: [], job: [] }));
  return s;
}

/**
 * Every status point (measurement `run`) of a campaign, per workflow series: its millisecond and run (whose
 * number is the point's sub-millisecond key). One query, streamed.
 */
export async function statusPointIndex(store: Store, campaign: string): Promise<Map<string, IndexedSeries>> {
  const by = new Map<string, IndexedSeries>();
  await store.influx.eachRow(
    `SELECT "run" FROM ${ident(M.run)} WHERE "campaign" = $c GROUP BY "workflow"`,
    { c: campaign },
    (r) => {
      if (typeof r.run !== 'number' || typeof r.time !== 'number') return;
      const s = seriesOf(by, String(r.workflow));
      s.ms.push(r.time);
      s.key.push(subKey(r.run));
      s.run.push(r.run);
      s.keep.push(true);
    },
  );
  return by;
}

/** Every job point of a campaign older than `before` (Unix ms), per workflow series, with its job's name. */
export async function jobPointIndex(
  store: Store,
  campaign: string,
  before: number,
): Promise<Map<string, IndexedSeries>> {
  const by = new Map<string, IndexedSeries>();
  await store.influx.eachRow(
    `SELECT "job", "run" FROM ${ident(M.job)} WHERE "campaign" = $c AND time < ${Math.trunc(before)}ms GROUP BY "workflow"`,
    { c: campaign },
    (r) => {
      if (typeof r.run !== 'number' || typeof r.time !== 'number' || typeof r.job !== 'string') return;
      const s = seriesOf(by, String(r.workflow));
      s.ms.push(r.time);
      s.key.push(subKey(r.run));
      s.run.push(r.run);
      s.job.push(r.job);
      s.keep.push(true);
    },
  );
  return by;
}

export interface SeriesRange extends NsRange {
  measurement: string;
  campaign: string;
  workflow: string;
}

/** Deletes the ranges, DELETES_PER_REQUEST statements a request; returns the requests sent. */
export async function deleteRanges(
  store: Store,
  ranges: readonly SeriesRange[],
  perRequest = DELETES_PER_REQUEST,
): Promise<number> {
  return deleteStatements(
    store,
    ranges.map(
      (r) =>
        `DELETE FROM ${ident(r.measurement)} WHERE "campaign" = ${literal(r.campaign)} AND "workflow" = ${literal(r.workflow)} AND time >= ${r.from} AND time <= ${r.to}`,
    ),
    perRequest,
  );
}

/** What a clean-up that keeps the newest point of each series deleted. */
export interface NewestKept {
  /** Series that had points to delete. */
  series: number;
  /** Points deleted. */
  points: number;
  /** DELETE requests sent. */
  requests: number;
}

/**
 * Deletes the points of a measurement older than `before` (Unix ms) but the newest point of each series (its
 * `tags`; `where` narrows to some tag values), so a read of the last point per series answers the same: 2
 * queries (the newest point and the count of old points per series), then one DELETE per series that has old
 * points to lose, `perRequest` a request. A DELETE's bound is below the newest point's millisecond, so a clean-up
 * cut short, or one racing a writer, never deletes a series' newest point.
 */
export async function pruneKeepingNewest(
  store: Store,
  o: {
    measurement: string;
    tags: readonly string[];
    field: string;
    before: number;
    where?: Readonly<Record<string, string>>;
    perRequest?: number;
  },
): Promise<NewestKept> {
  const where = Object.keys(o.where ?? {}).map((k, i) => `${ident(k)} = $w${i}`);
  const params = Object.fromEntries(Object.values(o.where ?? {}).map((v, i) => [`w${i}`, v]));
  const from = `FROM ${ident(o.measurement)}`;
  const by = `GROUP BY ${o.tags.map(ident).join(', ')}`;
  const before = Math.trunc(o.before);
  const old = [...where, `time < ${before}ms`].join(' AND ');
  const seriesKey = (r: Record<string, unknown>): string =>
    JSON.stringify(o.tags.map((t) => String(r[t] ?? '')));
  const [newest, counts] = await Promise.all([
    store.influx.rows(
      `SELECT last(${ident(o.field)}) ${from}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ${by}`,
      params,
    ),
    store.influx.rows(`SELECT count(${ident(o.field)}) ${from} WHERE ${old} ${by}`, params),
  ]);
  const last = new Map(newest.map((r) => [seriesKey(r), r.time]));
  const statements: string[] = [];
  let points = 0;
  for (const r of counts) {
    const t = last.get(seriesKey(r));
    if (typeof t !== 'number' || typeof r.count !== 'number') continue;
    const n = r.count - (t < before ? 1 : 0); // the newest point stays
    if (n <= 0) continue;
    points += n;
    const tags = o.tags.map((k) => `${ident(k)}::tag = ${literal(String(r[k] ?? ''))}`);
    statements.push(`DELETE ${from} WHERE ${[...tags, `time < ${Math.min(before, t)}ms`].join(' AND ')}`);
  }
  const requests = await deleteStatements(store, statements, o.perRequest);
  return { series: statements.length, points, requests };
}

/** Sends DELETE statements, `perRequest` a request (InfluxDB runs them in order); returns the requests sent. */
async function deleteStatements(
  store: Store,
  statements: readonly string[],
  perRequest = DELETES_PER_REQUEST,
): Promise<number> {
  let requests = 0;
  for (let i = 0; i < statements.length; i += perRequest) {
    await store.influx.query(statements.slice(i, i + perRequest).join('; '), {}, { write: true });
    requests++;
  }
  return requests;
}

/** A lease scope's claims older than `before` (Unix ms), but its newest one (one scope is one series). */
export async function pruneLeasePoints(store: Store, scope: string, before: number): Promise<NewestKept> {
  return pruneKeepingNewest(store, {
    measurement: M.lease,
    tags: ['scope'],
    field: 'expires',
    before,
    where: { scope },
  });
}

/** The loops' heartbeats older than `before` (Unix ms), but the newest of each loop (host and slot). */
export async function pruneHeartbeats(
  store: Store,
  before: number,
  perRequest?: number,
): Promise<NewestKept> {
  return pruneKeepingNewest(store, {
    measurement: M.loop,
    tags: ['host', 'slot'],
    field: 'loop',
    before,
    ...(perRequest === undefined ? {} : { perRequest }),
  });
}

/** A campaign's prune markers older than `before` (Unix ms), but its newest one (which `why` reads). */
export async function prunePruneMarkers(store: Store, campaign: string, before: number): Promise<NewestKept> {
  return pruneKeepingNewest(store, {
    measurement: PRUNE,
    tags: ['campaign'],
    field: 'cutoff',
    before,
    where: { campaign },
  });
}

/** Deletes a campaign's job-end reports (wake-up hints, read for seconds after they are written) before `before`. */
export async function pruneJobEnds(store: Store, campaign: string, before: number): Promise<void> {
  await store.influx.query(
    `DELETE FROM ${ident(JOBEND)} WHERE "campaign" = ${literal(campaign)} AND time < ${Math.trunc(before)}ms`,
    {},
    { write: true },
  );
}

/**
 * Refuses (UserError naming the privilege) unless the user may DELETE in this database, before anything is
 * deleted or written: a DELETE that matches nothing (a measurement runctrl never writes) — InfluxDB checks the
 * privilege before it looks for points.
 */
export async function checkDeletePrivilege(store: Store): Promise<void> {
  try {
    await store.influx.query(
      `DELETE FROM ${ident('runctrl_privilege_check')} WHERE time < 0s`,
      {},
      {
        write: true,
      },
    );
  } catch (err) {
    if (err instanceof UserError && /\(403 /.test(err.message)) {
      const who = /user '([^']*)'/.exec(err.message)?.[1] ?? 'anonymous';
      throw new UserError(
        `InfluxDB user '${who}' may not delete points in database '${store.db}' (DELETE needs the WRITE privilege): an admin can grant it with GRANT WRITE ON ${ident(store.db)} TO ${ident(who)}, or prune as a user with WRITE (or ALL); nothing was deleted`,
      );
    }
    throw err;
  }
}

export interface PruneMarker {
  /** History older than this (Unix ms) was pruned. */
  cutoff: number;
  /** Status points kept per run × workflow pair. */
  keep: number;
  /** When the marker was written (Unix ms). */
  time: number;
}

/** Written before anything is deleted, so that a prune cut short still says history may be missing. */
export async function writePruneMarker(
  store: Store,
  campaign: string,
  m: Omit<PruneMarker, 'time'>,
): Promise<void> {
  await store.write([
    { measurement: PRUNE, tags: { campaign }, fields: { cutoff: int(m.cutoff), keep: int(m.keep) }, key: 0 },
  ]);
}

/** The newest prune marker of a campaign: one query. */
export async function lastPrune(store: Store, campaign: string): Promise<PruneMarker | undefined> {
  const rows = await store.influx.rows(
    `SELECT "cutoff", "keep" FROM ${ident(PRUNE)} WHERE "campaign" = $c ORDER BY time DESC LIMIT 1`,
    { c: campaign },
  );
  const r = rows[0];
  if (!r || typeof r.cutoff !== 'number' || typeof r.keep !== 'number' || typeof r.time !== 'number')
    return undefined;
  return { cutoff: r.cutoff, keep: r.keep, time: r.time };
}
