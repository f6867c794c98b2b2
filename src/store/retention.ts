/**
 * Retention's queries (src/core/retention.ts decides what goes): an index of a campaign's status and job points,
 * range deletes batched several statements a request, the privilege check, lease clean-up and the prune marker
 * (measurement `prune`, tag campaign: the cutoff before which history was pruned, and what was kept).
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
  let requests = 0;
  for (let i = 0; i < ranges.length; i += perRequest) {
    const q = ranges
      .slice(i, i + perRequest)
      .map(
        (r) =>
          `DELETE FROM ${ident(r.measurement)} WHERE "campaign" = ${literal(r.campaign)} AND "workflow" = ${literal(r.workflow)} AND time >= ${r.from} AND time <= ${r.to}`,
      )
      .join('; ');
    await store.influx.query(q, {}, { write: true });
    requests++;
  }
  return requests;
}

/**
 * Deletes a lease scope's claims older than `before` (Unix ms) except its newest one (one scope is one series):
 * 2 queries.
 */
export async function pruneLeasePoints(store: Store, scope: string, before: number): Promise<void> {
  const rows = await store.influx.rows(`SELECT last("expires") FROM ${ident(M.lease)} WHERE "scope" = $s`, {
    s: scope,
  });
  const last = rows[0]?.time;
  if (typeof last !== 'number') return;
  const until = Math.min(before, last); // lease points have key 0: the newest one is at last ms exactly
  await store.influx.query(
    `DELETE FROM ${ident(M.lease)} WHERE "scope" = ${literal(scope)} AND time < ${Math.trunc(until)}ms`,
    {},
    { write: true },
  );
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
