/**
 * Job-end reports (measurement `jobend`, tags campaign and workflow; fields job, exit_code): a hint a job
 * writes when it ends, so that a daemon acts on it within a second instead of at its next status poll. The
 * job's state stays in `job` (written by the loop once it has checked the end); a lost report costs only time.
 *
 * A job writes its report through the wrapper (`curl`, line protocol with the server's timestamp) or with
 * `runctrl job done|failed`. Its credentials reach it through its environment only.
 */
import { ident } from './influxql.js';
import { fieldText, int, seriesPrefix, type PointSpec } from './lineproto.js';
import { decoder, f, fail, isMalformed } from './malformed.js';
import type { Store } from './store.js';

export const JOBEND = 'jobend';

export interface JobEnd {
  job: string;
  exitCode: number;
  /** Unix ms of the report (server time for the wrapper's reports). */
  time: number;
}

/** The line a job's wrapper posts, but for the exit code and its `i` (appended by the wrapper). */
export function jobEndLinePrefix(campaign: string, workflow: string, job: string): string {
  // the encoding of jobEndPoint, which `runctrl job done|failed` writes
  return `${seriesPrefix({ measurement: JOBEND, tags: { campaign, workflow } })} job=${fieldText(job)},exit_code=`;
}

/** Where a job posts its report (no credentials in it: they come from the job's environment). */
export function jobEndUrl(store: Store): string {
  return `${store.influx.url}/write?db=${encodeURIComponent(store.db)}&precision=ns`;
}

export function jobEndPoint(
  campaign: string,
  workflow: string,
  job: string,
  exitCode: number,
  key: number,
): PointSpec {
  return {
    measurement: JOBEND,
    tags: { campaign, workflow },
    fields: { job, exit_code: int(exitCode) },
    key,
  };
}

export const decodeJobEnd = decoder((r): JobEnd => {
  const exitCode = f.int(r, 'exit_code', Number.NaN);
  const time = f.num(r, 'time', Number.NaN);
  if (Number.isNaN(exitCode) || Number.isNaN(time)) fail('field exit_code or time is missing');
  return { job: f.need(r, 'job'), exitCode, time };
});

/**
 * Reports written after `since` (Unix ms), every campaign: one query. A malformed report is dropped silently
 * (it is only a hint: the job's state is read from the backend at the next poll anyway).
 */
export async function readJobEnds(store: Store, since: number): Promise<JobEnd[]> {
  const out: JobEnd[] = [];
  await store.influx.eachRow(
    `SELECT "job", "exit_code" FROM ${ident(JOBEND)} WHERE time > ${Math.trunc(since)}ms`,
    {},
    (r) => {
      const e = decodeJobEnd(r);
      if (!isMalformed(e)) out.push(e);
    },
  );
  return out;
}
