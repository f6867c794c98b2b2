/**
 * Warnings of malformed points: once per process per point, each with the point's campaign, tags, run, exact
 * time and the statement that deletes it. The exact (nanosecond) time is looked up with one query per new
 * point, at most MAX_DETAILED a read; more new points in one read are summed up in one line.
 */
import { visible } from '../domain/text.js';
import type { InfluxClient } from './influx.js';
import { ident } from './influxql.js';
import {
  deleteStatement,
  isMalformed,
  pointId,
  tagConditions,
  type MalformedPoint,
  type Row,
} from './malformed.js';
import {
  decodeCampaign,
  decodeJob,
  decodeLease,
  decodeLock,
  decodeRtype,
  decodeRunInfo,
  decodeRunState,
  decodeWorkflow,
  M,
} from './schema.js';
import { decodeSnapshotHead, SNAPSHOT } from './snapshot.js';

const DECODERS: Record<string, (r: Row) => unknown> = {
  [M.campaign]: decodeCampaign,
  [M.rtype]: decodeRtype,
  [M.workflow]: decodeWorkflow,
  [M.runinfo]: decodeRunInfo,
  [M.run]: decodeRunState,
  [M.job]: decodeJob,
  [M.lock]: decodeLock,
  [M.lease]: decodeLease,
  [SNAPSHOT]: decodeSnapshotHead,
};

const MAX_DETAILED = 10;
const MAX_REMEMBERED = 100_000;

/** One line describing a malformed point and how to delete it. */
export function warningLine(db: string, p: MalformedPoint): string {
  const where = Object.entries(p.tags).map(([k, v]) => `${k} ${v}`);
  if (p.run !== undefined && p.measurement !== M.lease) where.push(`run ${p.run}`);
  where.push(`time ${p.exact ?? new Date(p.time).toISOString()}`);
  return visible(
    `runctrl: warning: skipped a malformed ${p.measurement} point (${where.join(', ')}): ${p.why}; ` +
      `it is not used until deleted with (database '${db}'): ${deleteStatement(p)}`,
  );
}

export class MalformedWarnings {
  sink: ((line: string) => void) | undefined;
  private readonly seen = new Set<string>();

  constructor(private readonly influx: InfluxClient) {}

  /** Warns of the points not warned of before by this process. */
  async warn(points: readonly MalformedPoint[]): Promise<void> {
    const fresh = points.filter((p) => !this.seen.has(pointId(p)));
    if (fresh.length === 0) return;
    // bounded memory whatever is forged: past MAX_REMEMBERED points, new ones are summed up at every read
    for (const p of fresh) if (this.seen.size < MAX_REMEMBERED) this.seen.add(pointId(p));
    const sink = this.sink;
    if (!sink) return;
    for (const p of fresh.slice(0, MAX_DETAILED)) {
      const exact = await this.exactTime(p).catch(() => undefined);
      sink(warningLine(this.influx.db, exact === undefined ? p : { ...p, exact }));
    }
    if (fresh.length > MAX_DETAILED)
      sink(
        `runctrl: warning: ${fresh.length - MAX_DETAILED} more malformed points skipped (of measurements ${[
          ...new Set(fresh.map((p) => p.measurement)),
        ].join(', ')})`,
      );
  }

  /** The RFC 3339 nanosecond time of the malformed point read at that millisecond: one query. */
  private async exactTime(p: MalformedPoint): Promise<string | undefined> {
    const conds = [
      ...tagConditions(p.tags),
      `time >= ${Math.trunc(p.time)}ms`,
      `time < ${Math.trunc(p.time) + 1}ms`,
    ];
    const rows = await this.influx.rows(
      `SELECT * FROM ${ident(p.measurement)} WHERE ${conds.join(' AND ')}`,
      {},
      { epoch: 'rfc3339' },
    );
    const decode = DECODERS[p.measurement];
    for (const r of rows) {
      const t = r.time;
      if (typeof t !== 'string' || (p.run !== undefined && r.run !== p.run)) continue;
      if (decode && !isMalformed(decode({ ...r, time: 0 }))) continue;
      return t;
    }
    return undefined;
  }
}
