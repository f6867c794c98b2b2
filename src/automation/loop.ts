/**
 * The automation loop: `once` (one pass, for Jenkins or cron), `daemon` (until stopped) or `untilDone` (until
 * nothing is waiting or in flight in the selected campaigns). Event-driven outside `once`: a full pass every
 * interval (the safety net that polls every backend), and in between a wake-up pass as soon as a job ends
 * (wake.ts), which finalises it and submits what it unblocked. A pass that hits an infrastructure error
 * (InfluxDB or a batch controller unreachable) is retried with capped exponential backoff; SIGTERM/SIGINT (the
 * abort signal) ends the loop after the current pass.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Campaign } from '../domain/campaign.js';
import { isTransient, UserError } from '../errors.js';
import { SnapshotCorrupt } from '../store/snapshot.js';
import { backoffDelay, sleep } from '../util/retry.js';
import { junitXml } from './junit.js';
import { STALE_INTERVALS } from '../domain/loop-health.js';
import { HeartbeatWriter } from './heartbeat.js';
import { busyMessage, Lease, LockFile, type AcquireResult } from './lease.js';
import type { LoopMetrics } from './metrics.js';
import { StateCache } from './load.js';
import { notify } from './notify.js';
import {
  emptyPassReport,
  inScope,
  runPass,
  type PassDeps,
  type PassOptions,
  type PassReport,
  type WakeScope,
} from './pass.js';
import { Waker } from './wake.js';

export interface LoopOptions extends PassOptions {
  daemon: boolean;
  /** Run (event-driven) until nothing is waiting or in flight, then stop. */
  untilDone?: boolean;
  intervalMs: number;
  /** How often job-end reports are read between passes (ms; default 1 s). */
  wakeCheckMs?: number;
  junit?: string;
  webhooks: string[];
  stateDir: string;
  /** Lease lifetime; renewed every full pass (with the heartbeat). */
  leaseTtlMs: number;
  /** Wait between claiming a free lease and reading it back (ms; default 300, see Lease). */
  leaseSettleMs?: number;
  /** runctrl's version, for the heartbeat. */
  version?: string;
  /** --once and --until-done: how many times in a row an infrastructure error is retried before giving up. */
  onceAttempts?: number;
  maxBackoffMs?: number;
  /** Called after every pass (progress displays). */
  onPass?: (r: PassReport) => void;
  /** Told of passes, failures and leases (Prometheus, metrics.ts). */
  metrics?: LoopMetrics;
  /**
   * After a successful full pass, with the campaigns whose lease the loop holds (retention, which decides itself
   * when it is due). True when it changed stored history: the loop's cache is then read again.
   */
  housekeeping?: (campaigns: string[]) => Promise<boolean>;
}

export interface LoopResult {
  passes: number;
  last?: PassReport;
  /** The infrastructure error that ended a --once or --until-done run. */
  error?: string;
}

function summary(r: PassReport): string {
  const t = (k: 'submitted' | 'resubmitted' | 'done' | 'failed' | 'transitions' | 'deferred') =>
    r.campaigns.reduce((n, c) => n + c[k], 0);
  const kind = r.wake ? 'wake-up pass' : 'pass';
  const skipped = r.skipped?.length ? ` (${r.skipped.length} held by other loops)` : '';
  return `${kind}: ${r.campaigns.length} campaign(s)${skipped}, sensed ${r.sensed}, submitted ${t('submitted')} (+${t('resubmitted')} again, ${t('deferred')} deferred), ${t('transitions')} job transition(s), done ${t('done')}, failed ${t('failed')}, ${r.problems.length} problem(s), ${r.queries} queries, ${r.durationMs} ms`;
}

/** Nothing in flight, nothing submitted or deferred: what is still waiting cannot move by itself. */
export function settled(r: PassReport): boolean {
  return r.campaigns.every((c) => c.inFlight === 0 && c.submitted + c.resubmitted + c.deferred === 0);
}

function lockFileFor(deps: PassDeps, o: LoopOptions): LockFile {
  const name = `loop-${deps.store.db}${o.campaigns?.length ? `-${o.campaigns.join('+')}` : ''}`;
  return new LockFile(path.join(o.stateDir, `${name.replace(/[^A-Za-z0-9_.+-]/g, '_')}.lock`));
}

/** The backends named by the campaigns' workflows. */
function backendsOf(campaigns: Campaign[]): Set<string> {
  return new Set(campaigns.flatMap((c) => c.workflows.map((w) => w.backend)));
}

/** After a pass: the log, the notifications of failures, the JUnit file. */
async function afterPass(deps: PassDeps, o: LoopOptions, report: PassReport): Promise<void> {
  const log = deps.log ?? (() => undefined);
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
  o.onPass?.(report);
}

/** The campaigns whose lease another loop held, as a pass reports them. */
function skippedOf(r: AcquireResult): NonNullable<PassReport['skipped']> {
  return r.busy.map((b) => ({ campaign: b.scope, holder: b.owner, until: b.expires }));
}

class Loop {
  readonly result: LoopResult = { passes: 0 };
  private readonly lease: Lease;
  private readonly heartbeat: HeartbeatWriter;
  private skipped: NonNullable<PassReport['skipped']> = [];
  /** The campaigns held after the last acquire. */
  private held = new Set<string>();
  private readonly deps: PassDeps;
  private readonly waker: Waker | undefined;
  private campaigns: Campaign[] = [];
  private nextFull = 0;
  private failures = 0;

  constructor(
    deps: PassDeps,
    private readonly o: LoopOptions,
    private readonly signal: AbortSignal,
  ) {
    this.lease = new Lease(
      deps.store,
      o.leaseTtlMs,
      o.leaseSettleMs !== undefined ? { settleMs: o.leaseSettleMs } : {},
    );
    const eventDriven = o.daemon || o.untilDone === true;
    this.heartbeat = new HeartbeatWriter(deps.store, this.lease, {
      mode: o.daemon ? 'daemon' : o.untilDone ? 'until-done' : 'once',
      campaigns: o.campaigns ?? [],
      intervalMs: o.intervalMs,
      version: o.version ?? 'unknown',
    });
    // a long-running loop reads only what changed since its previous pass; --once has nothing to keep
    this.deps = eventDriven ? { ...deps, cache: deps.cache ?? new StateCache() } : deps;
    const log = deps.log;
    this.waker = eventDriven
      ? new Waker(deps.store, { reportEveryMs: o.wakeCheckMs ?? 1_000, ...(log ? { log } : {}) })
      : undefined;
  }

  /**
   * The leases of the campaigns in scope: those this loop holds are kept, free ones taken, the others skipped
   * (tried again at the next full pass). A --once or --until-done run over campaigns named explicitly wants
   * them all: one held elsewhere is an error.
   */
  private async takeLeases(): Promise<void> {
    const scopes = inScope(this.campaigns, this.o).map((c) => c.name);
    const share = this.o.daemon ? await this.fairShare(scopes) : Infinity;
    const r = await this.lease.acquire(scopes, { share });
    this.o.metrics?.leases(scopes, r.held);
    const first = r.busy[0];
    if (first && !this.o.daemon && (this.o.campaigns?.length ?? 0) > 0)
      throw new UserError(busyMessage(first));
    const log = this.deps.log ?? (() => undefined);
    for (const s of r.gained) {
      // another loop may have changed it since this one last held it: read it whole again
      this.deps.cache?.entries.delete(s);
      if (this.waker) log(`lease of campaign '${s}' taken`);
    }
    for (const l of r.lost) log(`lease of campaign '${l.scope}' lost to ${l.owner}`);
    const released = r.spared.filter((s) => this.held.has(s));
    if (released.length > 0) log(`left to the other loops (fair share): ${released.join(', ')}`);
    this.held = new Set(r.held);
    this.skipped = skippedOf(r);
    this.heartbeat.setSkipped(r.busy, r.spared);
  }

  /**
   * Daemons split the campaigns: this one's share is the campaigns in scope over the live daemons that want
   * some of them (this one included), rounded up. A daemon counts while its last heartbeat is younger than its
   * lease, so a dead one's share goes to the others as its leases expire. One query.
   */
  private async fairShare(scopes: string[]): Promise<number> {
    const now = Date.now();
    const mine = new Set(scopes);
    const beats = await this.deps.store.heartbeats(now - 3_600_000);
    const others = beats.filter(
      (h) =>
        h.loop !== this.lease.id &&
        h.mode === 'daemon' &&
        h.outcome !== 'stopped' &&
        now - h.passEnd < Math.min(h.leaseTtlMs || Infinity, STALE_INTERVALS * h.intervalMs) &&
        [...h.campaigns, ...h.skipped].some((c) => mine.has(c)),
    );
    return Math.ceil(scopes.length / (others.length + 1));
  }

  /** The campaigns this loop may act on now: those whose lease it holds (all of them in a dry run). */
  private workable(): Campaign[] {
    if (this.o.dryRun) return this.campaigns;
    const held = new Set(this.lease.held());
    return this.campaigns.filter((c) => held.has(c.name));
  }

  /** A full pass (campaigns read, leases taken and renewed, every backend polled) or a wake-up pass. */
  private async pass(wake: WakeScope | undefined, full: boolean): Promise<PassReport> {
    const q0 = this.deps.store.queryCount;
    if (full) {
      this.campaigns = await this.deps.store.campaigns();
      if (!this.o.dryRun) await this.takeLeases();
      this.nextFull = Date.now() + this.o.intervalMs;
    }
    const mine = this.workable();
    // watched before the pass submits anything, so that a job ending during the pass (a fast local job ends
    // before the pass does) wakes the loop right after it, not at the next full pass
    if (full) this.waker?.follow(backendsOf(mine), this.deps.backend);
    const report = await runPass(this.deps, this.o, mine, wake);
    if (this.skipped.length > 0) report.skipped = this.skipped;
    if (!this.o.dryRun)
      await this.heartbeat.afterPass(
        { start: report.startedAt, end: Date.now(), outcome: 'ok', report },
        full,
      );
    // the pass's queries, with the campaign read and the lease that this loop did for it
    report.queries = this.deps.store.queryCount - q0;
    return report;
  }

  /** An infrastructure error: true to go on after the backoff, false to stop (with result.error set). */
  private async failed(err: unknown, t0: number, full: boolean): Promise<boolean> {
    // what the failed pass changed in memory may not have reached the database: read everything again
    this.deps.cache?.entries.clear();
    // a forged snapshot found undecodable: its generation is refused, the next pass reads the history
    if (!isTransient(err) && !(err instanceof SnapshotCorrupt)) throw err;
    this.failures++;
    this.o.metrics?.passFailed(this.failures, Date.now() - t0, !full);
    const log = this.deps.log ?? (() => undefined);
    log(`infrastructure error (${this.failures} in a row): ${err.message}`);
    if (!this.o.dryRun) {
      const now = Date.now();
      const failed = { start: now, end: now, outcome: 'error' as const, error: err.message };
      // best effort: the database may be what failed
      await this.heartbeat.afterPass(failed, true).catch(() => undefined);
    }
    if (this.failures === 1)
      await notify(this.o.webhooks, `runctrl: automation pass failed: ${err.message}`, log);
    if (!this.o.daemon && this.failures >= (this.o.onceAttempts ?? 3)) {
      this.result.error = err.message;
      if (this.o.junit)
        await writeFile(
          this.o.junit,
          junitXml(emptyPassReport(Date.now(), this.o.dryRun ?? false), err.message),
        );
      return false;
    }
    this.nextFull = 0; // the next pass is a full one
    return sleep(backoffDelay(this.failures, 1_000, this.o.maxBackoffMs ?? 60_000), this.signal);
  }

  async run(): Promise<LoopResult> {
    for (;;) {
      const woken = this.waker?.take();
      const full = Date.now() >= this.nextFull || !woken;
      const wake: WakeScope | undefined = full ? woken && { ...woken, backends: 'all' } : woken;
      let report: PassReport;
      const t0 = Date.now();
      try {
        report = await this.pass(wake, full);
        if (full) await this.housekeeping();
      } catch (err) {
        if (await this.failed(err, t0, full)) continue;
        return this.result;
      }
      this.failures = 0;
      this.o.metrics?.passEnded(report, inScope(this.campaigns, this.o));
      this.result.passes++;
      this.result.last = report;
      await afterPass(this.deps, this.o, report);
      if (!this.waker || this.signal.aborted) return this.result;
      if (this.o.untilDone && settled(report)) return this.result;
      await this.waker.wait(this.nextFull - Date.now(), this.signal);
      if (this.signal.aborted) return this.result;
    }
  }

  /** Retention (or other upkeep) on the campaigns this loop holds; the cache is dropped when it changed history. */
  private async housekeeping(): Promise<void> {
    if (!this.o.housekeeping || this.o.dryRun) return;
    if (await this.o.housekeeping(this.lease.heldScopes)) this.deps.cache?.entries.clear();
  }

  close(): void {
    this.waker?.close();
  }

  /** The last heartbeat and the release of the leases, so that a stand-by takes over at its next pass. */
  async release(): Promise<void> {
    if (this.o.dryRun) return;
    const last = this.result.last;
    const end = last ? last.startedAt + last.durationMs : Date.now();
    await this.heartbeat
      .stop({ start: last?.startedAt ?? end, end, outcome: 'stopped' })
      .catch(() => undefined); // unreleased leases expire
  }
}

export async function runLoop(deps: PassDeps, o: LoopOptions, signal: AbortSignal): Promise<LoopResult> {
  const lockFile = lockFileFor(deps, o);
  if (!o.dryRun) lockFile.acquire();
  const loop = new Loop(deps, o, signal);
  try {
    return await loop.run();
  } finally {
    loop.close();
    await loop.release();
    lockFile.release();
  }
}
