/** Reads for the dashboard (runctrl serve): a run's status history and a cheap change fingerprint. */
import { ident } from './influxql.js';
import { isMalformed, malformedPoint, MalformedSet } from './malformed.js';
import { decodeRunState, M, type RunState } from './schema.js';
import type { Store } from './store.js';

/** Every status point of one run of a campaign, oldest first: one query. */
export async function runHistory(store: Store, campaign: string, run: number): Promise<RunState[]> {
  const rows = await store.influx.rows(
    `SELECT "run", "status", "attempt", "tries", "outputs", "output_list", "reason", "inputs_from" FROM ${ident(M.run)} WHERE "campaign" = $c AND "run" = ${Math.trunc(run)} GROUP BY "workflow"`,
    { c: campaign },
  );
  const out: RunState[] = [];
  const bad = new MalformedSet();
  for (const r of rows) {
    const s = decodeRunState(r);
    if (isMalformed(s)) bad.add(malformedPoint(M.run, r, { campaign, workflow: undefined }, s.why));
    else out.push(s);
  }
  await store.warnings.warn(bad.list());
  return out.sort((a, b) => a.time - b.time);
}

/** A field every point of each measurement has (a selector over one field returns its point's time). */
const ALWAYS: [string, string][] = [
  [M.run, 'status'],
  [M.job, 'job'],
  [M.lock, 'locked'],
  [M.campaign, 'created'],
  [M.rtype, 'workflows'],
  [M.workflow, 'spec'],
  [M.runinfo, 'run'],
];

/**
 * The time of the last point of every measurement the dashboard shows, as one string: one small query per
 * measurement (a `last()` answers from the index of the newest block, not by scanning).
 */
export async function changeFingerprint(store: Store): Promise<string> {
  const times = await Promise.all(
    ALWAYS.map(async ([m, f]) => {
      const rows = await store.influx.rows(`SELECT last(${ident(f)}) FROM ${ident(m)}`);
      return String(rows[0]?.time ?? 0);
    }),
  );
  return times.join(',');
}
