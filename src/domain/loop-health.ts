/**
 * Loop health (pure): the heartbeats loops write at every pass, and what they say of the loops and of each
 * campaign — who holds it, how long since its last pass, how old its oldest job in flight is, and whether it
 * is stale. Read by `runctrl loops`, `list`, `status` and the dashboard (and by anything else that wants the
 * same answer, e.g. metrics).
 */
import { leaseHolder, type LeasePoint } from './jobs.js';

export type LoopMode = 'daemon' | 'once' | 'until-done';
export type PassOutcome = 'ok' | 'error' | 'stopped';

/** What a campaign's holder last saw of its jobs in flight. */
export interface InFlightInfo {
  count: number;
  /** Unix ms of the submission of the oldest job in flight (0: none). */
  oldestSubmittedAt: number;
}

/** One heartbeat point: the state of a loop after its last pass. */
export interface Heartbeat {
  /** The loop's lease identity (host:pid:nonce). */
  loop: string;
  /** Mode and campaigns of the loop ('daemon/*', 'once/a+b'): the next loop started alike replaces it. */
  slot: string;
  host: string;
  pid: number;
  version: string;
  mode: LoopMode;
  /** Unix ms the loop started. */
  started: number;
  /** Campaigns whose lease it held after the pass. */
  campaigns: string[];
  /** Campaigns it wanted but another loop held. */
  skipped: string[];
  passStart: number;
  passEnd: number;
  outcome: PassOutcome;
  /** The error of a failed pass ('' otherwise). */
  error: string;
  intervalMs: number;
  leaseTtlMs: number;
  inFlight: Record<string, InFlightInfo>;
  /** Unix ms of the point. */
  time: number;
}

/** A loop is stale after this many intervals without a pass. */
export const STALE_INTERVALS = 3;

export type LoopStatus = 'live' | 'stale' | 'stopped';

export interface LoopView {
  loop: string;
  slot: string;
  host: string;
  pid: number;
  version: string;
  mode: LoopMode;
  status: LoopStatus;
  /** Campaigns whose lease it holds now (from the leases, not only from its heartbeat). */
  holds: string[];
  skipped: string[];
  started: number;
  lastPassStart: number;
  lastPassEnd: number;
  /** ms since the end of the last pass. */
  sinceLastPassMs: number;
  outcome: PassOutcome;
  error: string;
  intervalMs: number;
  leaseTtlMs: number;
}

/** When a loop that said nothing since `passEnd` is overdue. */
export function overdueAt(passEnd: number, intervalMs: number): number {
  return passEnd + STALE_INTERVALS * Math.max(intervalMs, 1_000);
}

/** The current holder of each scope from its lease claims. */
export function holders(
  claims: ReadonlyMap<string, readonly LeasePoint[]>,
  now: number,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [scope, points] of claims) {
    const h = leaseHolder(points, now);
    if (h) out.set(scope, h.owner);
  }
  return out;
}

/** Every loop with a heartbeat, newest pass first: live, stale (overdue) or stopped (ended or gave up). */
export function loopViews(
  heartbeats: readonly Heartbeat[],
  claims: ReadonlyMap<string, readonly LeasePoint[]>,
  now: number,
): LoopView[] {
  const held = new Map<string, string[]>();
  for (const [scope, owner] of holders(claims, now)) {
    let l = held.get(owner);
    if (!l) held.set(owner, (l = []));
    l.push(scope);
  }
  return heartbeats
    .map((h): LoopView => {
      const status: LoopStatus =
        h.outcome === 'stopped' ? 'stopped' : now > overdueAt(h.passEnd, h.intervalMs) ? 'stale' : 'live';
      return {
        loop: h.loop,
        slot: h.slot,
        host: h.host,
        pid: h.pid,
        version: h.version,
        mode: h.mode,
        status,
        holds: (held.get(h.loop) ?? []).sort(),
        skipped: h.skipped,
        started: h.started,
        lastPassStart: h.passStart,
        lastPassEnd: h.passEnd,
        sinceLastPassMs: Math.max(0, now - h.passEnd),
        outcome: h.outcome,
        error: h.error,
        intervalMs: h.intervalMs,
        leaseTtlMs: h.leaseTtlMs,
      };
    })
    .sort((a, b) => b.lastPassEnd - a.lastPassEnd || (a.loop < b.loop ? -1 : 1));
}

/** One campaign's loop health. */
export interface CampaignHealth {
  /** The loop holding its lease now ('' = none). */
  holder: string;
  /** host:pid of the holder, or of the last loop that passed over it ('' = none known). */
  loopLabel: string;
  /** Unix ms of the end of the last pass over it (0 = none known). */
  lastPassEnd: number;
  /** ms since then (null = no pass known). */
  sinceLastPassMs: number | null;
  /** Unix ms of the submission of its oldest job in flight, as its last pass saw it (0 = none). */
  oldestInFlightAt: number;
  /** ms since then (null = nothing in flight). */
  oldestInFlightAgeMs: number | null;
  stale: boolean;
  /** Why it is stale, one line ('' when not stale). */
  reason: string;
}

/** What a campaign needs to say whether it is stale: is it active, and has it work (waiting or in flight)? */
export interface CampaignWork {
  name: string;
  active: boolean;
  hasWork: boolean;
}

const label = (h: Pick<Heartbeat, 'host' | 'pid'>): string => `${h.host}:${h.pid}`;

/** ms as a short age: 45s, 12m, 3h, 2d. */
export function shortAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/**
 * Per campaign: its holder, its last pass (the newest heartbeat that held it), the age of its oldest job in
 * flight, and stale when no pass came for STALE_INTERVALS intervals, or when nothing holds an active campaign
 * that has work.
 */
export function campaignHealth(
  campaigns: readonly CampaignWork[],
  heartbeats: readonly Heartbeat[],
  claims: ReadonlyMap<string, readonly LeasePoint[]>,
  now: number,
): Map<string, CampaignHealth> {
  const owners = holders(claims, now);
  const byLoop = new Map(heartbeats.map((h) => [h.loop, h]));
  const lastOf = new Map<string, Heartbeat>();
  for (const h of heartbeats)
    for (const c of h.campaigns) {
      const prev = lastOf.get(c);
      if (!prev || prev.passEnd < h.passEnd) lastOf.set(c, h);
    }
  const out = new Map<string, CampaignHealth>();
  for (const c of campaigns) {
    const holder = owners.get(c.name) ?? '';
    const last = lastOf.get(c.name);
    const hb = (holder ? byLoop.get(holder) : undefined) ?? last;
    const oldest = last?.inFlight[c.name]?.oldestSubmittedAt ?? 0;
    const inFlight = (last?.inFlight[c.name]?.count ?? 0) > 0;
    let reason = '';
    if (c.active && (c.hasWork || inFlight)) {
      const overdue = last !== undefined && now > overdueAt(last.passEnd, last.intervalMs);
      // a --once run (cron, Jenkins) holds nothing between runs: only overdue counts for it
      if (!holder && (!last || last.mode !== 'once' || overdue))
        reason = last
          ? `no loop holds it (last pass ${shortAge(now - last.passEnd)} ago)`
          : 'no loop holds it';
      else if (last && overdue)
        reason = `no pass for ${shortAge(now - last.passEnd)} (${STALE_INTERVALS} intervals: ${shortAge(STALE_INTERVALS * last.intervalMs)})`;
    }
    out.set(c.name, {
      holder,
      loopLabel: hb ? label(hb) : holder ? holder.split(':').slice(0, 2).join(':') : '',
      lastPassEnd: last?.passEnd ?? 0,
      sinceLastPassMs: last ? Math.max(0, now - last.passEnd) : null,
      oldestInFlightAt: oldest,
      oldestInFlightAgeMs: oldest > 0 ? Math.max(0, now - oldest) : null,
      stale: reason !== '',
      reason,
    });
  }
  return out;
}
