/**
 * The loop's heartbeat: after every full pass (and after a wake-up pass when the leases are due for renewal)
 * one point of the `loop` measurement — host, pid, version, campaigns held, start and end of the pass and its
 * outcome, interval — written in one request with the renewal of the loop's leases. On exit, the last
 * heartbeat (outcome `stopped`) goes with the release of the leases, so a stand-by takes over at its next pass.
 */
import type { Heartbeat, InFlightInfo, LoopMode, PassOutcome } from '../domain/loop-health.js';
import { heartbeatPoint } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { hostName, type BusyScope, type Lease } from './lease.js';
import type { PassReport } from './pass.js';

export interface HeartbeatInfo {
  mode: LoopMode;
  /** The campaigns it was started for ([] = all). */
  campaigns: readonly string[];
  intervalMs: number;
  version: string;
}

/** What a pass leaves in the heartbeat. */
export interface PassSummary {
  start: number;
  end: number;
  outcome: PassOutcome;
  error?: string;
  report?: PassReport;
}

/** The in-flight jobs per campaign of a pass's report. */
export function inFlightOf(report: PassReport | undefined): Record<string, InFlightInfo> {
  const out: Record<string, InFlightInfo> = {};
  for (const c of report?.campaigns ?? [])
    out[c.campaign] = { count: c.inFlight, oldestSubmittedAt: c.oldestInFlightAt ?? 0 };
  return out;
}

export class HeartbeatWriter {
  private readonly started = Date.now();
  /** The in-flight jobs of the last full pass, kept for heartbeats after wake-up passes and failures. */
  private inFlight: Record<string, InFlightInfo> = {};
  private skipped: string[] = [];

  constructor(
    private readonly store: Store,
    private readonly lease: Lease,
    private readonly info: HeartbeatInfo,
  ) {}

  /** The campaigns in scope it did not hold at the last acquire (another loop's, or left to others). */
  setSkipped(busy: readonly BusyScope[], spared: readonly string[]): void {
    this.skipped = [...busy.map((b) => b.scope), ...spared].sort();
  }

  private point(p: PassSummary): Omit<Heartbeat, 'time'> {
    if (p.report) this.inFlight = { ...this.inFlight, ...inFlightOf(p.report) };
    const campaigns = this.lease.held();
    const inFlight: Record<string, InFlightInfo> = {};
    for (const c of campaigns) {
      const f = this.inFlight[c];
      if (f) inFlight[c] = f;
    }
    return {
      loop: this.lease.id,
      slot: `${this.info.mode}/${this.info.campaigns.length > 0 ? [...this.info.campaigns].sort().join('+') : '*'}`,
      host: hostName(),
      pid: process.pid,
      version: this.info.version,
      mode: this.info.mode,
      started: this.started,
      campaigns,
      skipped: this.skipped,
      passStart: p.start,
      passEnd: p.end,
      outcome: p.outcome,
      error: p.error ?? '',
      intervalMs: this.info.intervalMs,
      leaseTtlMs: this.lease.ttlMs,
      inFlight,
    };
  }

  /** After a pass: the heartbeat with the renewal of the leases (one write). A wake-up pass writes only when a renewal is due. */
  async afterPass(p: PassSummary, full: boolean): Promise<void> {
    if (!full && !this.lease.renewalDue()) return;
    const hb = this.point(p);
    const renewal = this.lease.renewal();
    const sentAt = await this.store.writeServerStamped([heartbeatPoint(hb)], renewal.points);
    renewal.commit(sentAt, Date.now());
  }

  /** On exit: the last heartbeat and the release of every lease (one write). */
  async stop(last: PassSummary): Promise<void> {
    // the campaigns it held until now stay in the point: the last pass over them was this loop's
    const hb = { ...this.point(last), outcome: 'stopped' as const };
    await this.store.writeServerStamped([heartbeatPoint(hb)], this.lease.releasePoints());
  }
}
