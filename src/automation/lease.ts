/**
 * Only one loop may act on a campaign at a time: a lease per campaign stored in InfluxDB, plus a local lock
 * file so that two loops on one machine do not even race. Several loops (on several hosts) share the
 * campaigns: each works on those whose lease it holds and tries the others at every full pass, so a stand-by
 * takes over a dead loop's campaigns when their leases expire.
 *
 * Consistency without transactions: claims are points, and every reader computes the holder from the same
 * claim history (`leaseHolder`: the earliest claim made while no valid lease existed wins; the holder renews
 * or releases). Claims are stamped by the InfluxDB server on arrival (one clock for every host), and a loop
 * that claims a free lease reads the claims back only after `settleMs`, so that a competitor's claim stamped
 * earlier but still being written is seen: two loops that both saw the lease free both see the same winner.
 * A renewal extends the lease only if it arrived before the lease expired; the loop trusts its lease only
 * while its own clock says it is valid with a margin, and renews it with every heartbeat.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leaseHolder } from '../domain/jobs.js';
import { UserError } from '../errors.js';
import type { PointSpec } from '../store/lineproto.js';
import { leasePoint } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { sleep } from '../util/retry.js';

/** The host name of the lease identity and heartbeats: RUNCTRL_HOST, else the system's. */
export function hostName(): string {
  const h = process.env.RUNCTRL_HOST?.trim();
  return h ? h.replace(/[:\s]/g, '_') : os.hostname();
}

export function ownerId(): string {
  return `${hostName()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock file; a stale one (its process gone) is taken over. */
export class LockFile {
  private held = false;
  constructor(readonly file: string) {}

  acquire(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    for (let i = 0; i < 2; i++) {
      try {
        const fd = openSync(this.file, 'wx');
        writeSync(fd, `${process.pid} ${hostName()}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const [pidText, host] = readFileSync(this.file, 'utf8').trim().split(' ');
        const pid = Number(pidText);
        if (host === hostName() && Number.isInteger(pid) && pid > 0 && !alive(pid)) {
          unlinkSync(this.file);
          continue;
        }
        throw new UserError(
          `another runctrl loop holds ${this.file} (pid ${pidText ?? '?'} on ${host ?? '?'}): let it finish, or stop it first`,
        );
      }
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }
}

/** True for an owner id of this host whose process is gone. */
export function deadLocalOwner(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  return host === hostName() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
}

/** A campaign another loop holds. */
export interface BusyScope {
  scope: string;
  owner: string;
  expires: number;
}

export interface AcquireResult {
  /** Scopes held after the call, sorted. */
  held: string[];
  /** Scopes held by another loop. */
  busy: BusyScope[];
  /** Scopes this call took (free, expired, or left by a dead loop of this host). */
  gained: string[];
  /** Scopes this loop held and found taken by another (its renewal came too late). */
  lost: BusyScope[];
  /** Free scopes left to other loops (beyond this loop's share), and held ones released for them. */
  spared: string[];
}

export interface LeaseOptions {
  /** Wait between writing a claim and reading it back (ms; default 300). */
  settleMs?: number;
}

/** A lease is trusted only while more than this part of its lifetime is left. */
const MARGIN = 1 / 4;
/** …and renewed with the heartbeat once this part of it has passed. */
const RENEW_AFTER = 1 / 3;

export function busyMessage(b: BusyScope): string {
  return `campaign '${b.scope}' is being processed by another loop (${b.owner}, lease until ${new Date(b.expires).toISOString()}): wait for it to finish, or stop it`;
}

export class Lease {
  private readonly owner = ownerId();
  /** Scope → Unix ms (this host's clock) until which its lease is known to be ours. */
  private readonly validUntil = new Map<string, number>();
  private lastRenewal = 0;
  private readonly settleMs: number;

  constructor(
    private readonly store: Store,
    readonly ttlMs: number,
    o: LeaseOptions = {},
  ) {
    this.settleMs = o.settleMs ?? 300;
  }

  get id(): string {
    return this.owner;
  }

  /** The scopes (campaigns) held since the last acquire (metrics). */
  get heldScopes(): string[] {
    return this.held();
  }

  /** How far back claims are read: far more than a lease lives, so every reader sees the same holder. */
  private get windowMs(): number {
    return Math.max(20 * this.ttlMs, 3_600_000);
  }

  /** The scopes whose lease this loop may act on now (held, with a margin left), sorted. */
  held(now: number = Date.now()): string[] {
    const margin = this.ttlMs * MARGIN;
    return [...this.validUntil]
      .filter(([, until]) => until - now > margin)
      .map(([s]) => s)
      .sort();
  }

  /**
   * Claims the free leases among these scopes, keeps those it holds, and releases those no longer in scope:
   * one query when nothing is free, otherwise a write, the settle wait and a second query.
   */
  async acquire(scopes: readonly string[], o: { share?: number } = {}): Promise<AcquireResult> {
    const now = Date.now();
    const claims = await this.store.leasePointsByScope(now - this.windowMs);
    const want = new Set(scopes);
    const r: AcquireResult = { held: [], busy: [], gained: [], lost: [], spared: [] };
    const free: string[] = [];
    const forDead: PointSpec[] = [];
    for (const scope of want) {
      const h = leaseHolder(claims.get(scope) ?? [], now);
      if (h?.owner === this.owner) {
        // ours by every reader's count (an unbroken chain of our claims up to now)
        this.validUntil.set(scope, h.expires);
        continue;
      }
      if (this.validUntil.delete(scope) && h) r.lost.push({ scope, owner: h.owner, expires: h.expires });
      if (!h) free.push(scope);
      else if (deadLocalOwner(h.owner)) {
        // a loop of this host that died (SIGKILL, crash) left its lease: release it on its behalf
        forDead.push(leasePoint(scope, h.owner, 0));
        free.push(scope);
      } else r.busy.push({ scope, owner: h.owner, expires: h.expires });
    }
    const gone = [...this.validUntil.keys()].filter((s) => !want.has(s));
    // a share: claim free scopes only up to it, and give up what is above it (other loops take it)
    const share = o.share ?? Infinity;
    const mine = [...this.validUntil.keys()].filter((s) => want.has(s)).sort();
    const above = mine.slice(Math.max(0, share));
    gone.push(...above);
    const room = Math.max(0, share - mine.length);
    r.spared.push(...above, ...free.slice(room));
    free.splice(room);
    // a release and a claim of one scope go in two requests (the server stamps a request's points alike)
    if (forDead.length > 0) await this.store.writeServerStamped([], forDead);
    if (gone.length > 0) await this.releaseScopes(gone);
    if (free.length > 0) await this.claim(free, r);
    r.held = this.held();
    return r;
  }

  /** Claims free scopes: write, wait for competitors' claims in flight, read back; the winners are ours. */
  private async claim(free: string[], r: AcquireResult): Promise<void> {
    const sentAt = Date.now();
    const expires = sentAt + this.ttlMs;
    await this.store.writeServerStamped(
      [],
      free.map((s) => leasePoint(s, this.owner, expires)),
    );
    await sleep(this.settleMs);
    const now = Date.now();
    const written = await this.store.leasePointsByScope(now - this.windowMs);
    for (const scope of free) {
      const h = leaseHolder(written.get(scope) ?? [], now);
      if (h?.owner === this.owner) {
        this.validUntil.set(scope, h.expires);
        r.gained.push(scope);
      } else r.busy.push({ scope, owner: h?.owner ?? 'unknown', expires: h?.expires ?? 0 });
    }
  }

  /** True when the held leases should be renewed with the next heartbeat. */
  renewalDue(now: number = Date.now()): boolean {
    return this.validUntil.size > 0 && now - this.lastRenewal >= this.ttlMs * RENEW_AFTER;
  }

  /**
   * The renewal of every held lease, to write with the heartbeat; `commit` (with the time the request left and
   * the time it was answered) extends a lease only if the renewal arrived before it expired.
   */
  renewal(now: number = Date.now()): {
    points: PointSpec[];
    commit: (sentAt: number, ackAt: number) => void;
  } {
    const scopes = [...this.validUntil.keys()];
    const expires = now + this.ttlMs;
    return {
      points: scopes.map((s) => leasePoint(s, this.owner, expires)),
      commit: (sentAt, ackAt) => {
        this.lastRenewal = sentAt;
        for (const s of scopes) {
          const until = this.validUntil.get(s);
          if (until !== undefined && ackAt < until) this.validUntil.set(s, expires);
        }
      },
    };
  }

  /** The release points of every held lease (written with the last heartbeat); forgets them. */
  releasePoints(): PointSpec[] {
    const points = [...this.validUntil.keys()].map((s) => leasePoint(s, this.owner, 0));
    this.validUntil.clear();
    return points;
  }

  private async releaseScopes(scopes: string[]): Promise<void> {
    for (const s of scopes) this.validUntil.delete(s);
    await this.store.writeServerStamped(
      [],
      scopes.map((s) => leasePoint(s, this.owner, 0)),
    );
  }

  async release(): Promise<void> {
    const points = this.releasePoints();
    if (points.length > 0) await this.store.writeServerStamped([], points);
  }
}
