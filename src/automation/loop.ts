/**
 * The automation loop: `once` (one pass, for Jenkins or cron) or `daemon` (a pass every interval until
 * stopped). A pass that hits an infrastructure error (InfluxDB or a batch controller unreachable) is retried
 * with capped exponential backoff; SIGTERM/SIGINT (the abort signal) ends the loop after the current pass.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { activityOf } from '../domain/campaign.js';
import { isTransient } from '../errors.js';
import { backoffDelay, sleep } from '../util/retry.js';
import { junitXml } from './junit.js';
import { Lease, LockFile } from './lease.js';
import { notify } from './notify.js';
import { emptyPassReport, runPass, type PassDeps, type PassOptions, type PassReport } from './pass.js';
import { StateCache } from './load.js';

export interface LoopOptions extends PassOptions {
  daemon: boolean;
  intervalMs: number;
  junit?: string;
  webhooks: string[];
  stateDir: string;
  /** Lease lifetime; renewed every pass. */
  leaseTtlMs: number;
  /** --once: how many times an infrastructure error is retried before giving up. */
  onceAttempts?: number;
  maxBackoffMs?: number;
}

export interface LoopResult {
  passes: number;
  last?: PassReport;
  /** The infrastructure error that ended a --once run. */
  error?: string;
}

function summary(r: PassReport): string {
  const t = (k: 'submitted' | 'resubmitted' | 'done' | 'failed' | 'transitions' | 'deferred') =>
    r.campaigns.reduce((n, c) => n + c[k], 0);
  return `pass: ${r.campaigns.length} campaign(s), sensed ${r.sensed}, submitted ${t('submitted')} (+${t('resubmitted')} again, ${t('deferred')} deferred), ${t('transitions')} job transition(s), done ${t('done')}, failed ${t('failed')}, ${r.problems.length} problem(s), ${r.queries} queries, ${r.durationMs} ms`;
}

export async function runLoop(deps: PassDeps, o: LoopOptions, signal: AbortSignal): Promise<LoopResult> {
  const log = deps.log ?? (() => undefined);
  const lockName = `loop-${deps.store.db}${o.campaigns?.length ? `-${o.campaigns.join('+')}` : ''}`.replace(
    /[^A-Za-z0-9_.+-]/g,
    '_',
  );
  const lockFile = new LockFile(path.join(o.stateDir, `${lockName}.lock`));
  const lease = new Lease(deps.store, o.leaseTtlMs);
  const result: LoopResult = { passes: 0 };
  if (!o.dryRun) lockFile.acquire();
  let failures = 0;
  // a daemon reads only what changed since its previous pass; --once has nothing to keep
  const passDeps: PassDeps = o.daemon ? { ...deps, cache: new StateCache() } : deps;
  try {
    for (;;) {
      let report: PassReport | undefined;
      try {
        // read once per pass: the lease covers the campaigns the pass will act on
        const q0 = deps.store.queryCount;
        const all = await deps.store.campaigns();
        if (!o.dryRun) {
          const mine = all.filter(
            (c) => activityOf(c) !== 'idle' && (!o.campaigns?.length || o.campaigns.includes(c.name)),
          );
          await lease.acquire(mine.map((c) => c.name));
        }
        report = await runPass(passDeps, o, all);
        // the pass's queries, with the campaign read and the lease that this loop did for it
        report.queries = deps.store.queryCount - q0;
        result.passes++;
        result.last = report;
        failures = 0;
        log(summary(report));
        for (const p of report.problems) log(`problem: ${p}`);
        if (report.failures.length > 0) {
          const lines = report.failures
            .slice(0, 20)
            .map((f) => `- ${f.campaign}/${f.workflow} run ${f.run}: ${f.reason}`);
          await notify(
            o.webhooks,
            `runctrl: ${report.failures.length} run×workflow pair(s) failed for good\n${lines.join('\n')}`,
            log,
          );
        }
        if (o.junit) await writeFile(o.junit, junitXml(report));
      } catch (err) {
        // what the failed pass changed in memory may not have reached the database: read everything again
        passDeps.cache?.entries.clear();
        if (!isTransient(err)) throw err;
        failures++;
        const msg = err.message;
        log(`infrastructure error (${failures} in a row): ${msg}`);
        if (failures === 1) await notify(o.webhooks, `runctrl: automation pass failed: ${msg}`, log);
        if (!o.daemon && failures >= (o.onceAttempts ?? 3)) {
          result.error = msg;
          if (o.junit) {
            await writeFile(o.junit, junitXml(emptyPassReport(Date.now(), o.dryRun ?? false), msg));
          }
          return result;
        }
        const delay = backoffDelay(failures, 1_000, o.maxBackoffMs ?? 60_000);
        if (!(await sleep(delay, signal))) return result;
        continue;
      }
      if (!o.daemon || signal.aborted) return result;
      if (!(await sleep(o.intervalMs, signal))) return result;
    }
  } finally {
    await lease.release().catch(() => undefined);
    lockFile.release();
  }
}
