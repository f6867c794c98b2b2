/** Reads for the dashboard (runctrl serve): a run's status history and a cheap change fingerprint. */
import { ident } from './influxql.js';
import { decodeRunState, M, type RunState } from './schema.js';
import type { Store } from './store.js';

/** Every status point of one run of a campaign, oldest first: one query. */
export async function runHistory(store: Store, campaign: string, run: number): Promise<RunState[]> {
  const rows = await store.influx.rows(
    `SELECT "run", "status", "attempt", "tries", "outputs", "reason" FROM ${ident(M.run)} WHERE "campaign" = $c AND "run" = ${Math.trunc(run)} GROUP BY "workflow"`,
    { c: campaign },
  );
  return rows.map(decodeRunState).sort((a, b) => a.time - b.time);
}

/** The time of the last point of every measurement the dashboard shows, as one string: one query. */
export async function changeFingerprint(store: Store): Promise<string> {
  const ms = [M.run, M.job, M.lock, M.campaign, M.rtype, M.workflow, M.runinfo].map(ident).join(', ');
  const rows = await store.influx.rows(`SELECT last(*) FROM ${ms}`);
  return rows.map((r) => String(r.time)).join(',');
}
