/**
 * What wakes the daemon between its passes, so that a job's end triggers what it unblocks at once:
 * - backends that can say so themselves (`Backend.watch`, e.g. the local executor), and
 * - job-end reports in InfluxDB (`jobend`, written by the job wrapper or `runctrl job done|failed`), read about
 *   every second in one query for all campaigns.
 * Both are hints: the wake-up pass still checks with the backend (or the job's exit code) before recording.
 */
import type { Backend } from '../backends/types.js';
import { readJobEnds } from '../store/jobend.js';
import type { Store } from '../store/store.js';
import type { WakeScope } from './pass.js';
import { messageOf } from './util.js';

export interface WakerOptions {
  /** How often job-end reports are read (ms). */
  reportEveryMs: number;
  /** Reports are read again this far back (late arrivals; ms). */
  overlapMs?: number;
  log?: (line: string) => void;
}

/** The settling delay after a wake-up that follows a quiet spell, and after one during a burst (Waker.wait). */
export const SETTLE_MS = 20;
export const BURST_SETTLE_MS = 150;

export class Waker {
  private readonly backends = new Set<string>();
  private readonly ended = new Map<string, number>();
  private readonly seen = new Map<string, number>();
  private readonly unwatch = new Map<string, () => void>();
  private poke: (() => void) | undefined;
  private pending = false;
  private reportsNeeded = false;
  private timer: NodeJS.Timeout | undefined;
  private since = Date.now() - 10_000;
  private failing = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly o: WakerOptions,
  ) {}

  /** Watches the backends the campaigns use; reports are read when one of them cannot wake the loop itself. */
  follow(names: Iterable<string>, backend: (name: string) => Backend): void {
    let needed = false;
    for (const name of names) {
      const b = backend(name);
      if (!b.watch) {
        needed = true;
        continue;
      }
      if (!this.unwatch.has(name))
        this.unwatch.set(
          name,
          b.watch(() => this.wake(name)),
        );
    }
    this.reportsNeeded = needed;
    if (needed && !this.timer && !this.closed) this.scheduleReports();
  }

  private wake(backend?: string): void {
    if (backend !== undefined) this.backends.add(backend);
    this.pending = true;
    this.poke?.();
  }

  private scheduleReports(): void {
    this.timer = setTimeout(() => {
      void this.readReports().finally(() => {
        this.timer = undefined;
        if (this.reportsNeeded && !this.closed) this.scheduleReports();
      });
    }, this.o.reportEveryMs);
    this.timer.unref();
  }

  private async readReports(): Promise<void> {
    let ends;
    try {
      ends = await readJobEnds(this.store, this.since - (this.o.overlapMs ?? 3_000));
    } catch (err) {
      if (!this.failing) this.o.log?.(`job-end reports cannot be read (the passes go on): ${messageOf(err)}`);
      this.failing = true;
      return;
    }
    this.failing = false;
    let fresh = false;
    for (const e of ends) {
      this.since = Math.max(this.since, e.time);
      if (this.seen.has(e.job)) continue;
      this.seen.set(e.job, e.time);
      this.ended.set(e.job, e.exitCode);
      fresh = true;
    }
    const horizon = this.since - 60_000;
    for (const [job, t] of this.seen) if (t < horizon) this.seen.delete(job);
    if (fresh) this.wake();
  }

  /** What woke the loop since the last call (undefined: nothing). */
  take(): WakeScope | undefined {
    if (!this.pending) return undefined;
    const scope: WakeScope = { backends: new Set(this.backends), ended: new Map(this.ended) };
    this.backends.clear();
    this.ended.clear();
    this.pending = false;
    return scope;
  }

  /**
   * Waits until something wakes the loop (then a settling delay, so that ends arriving together make one pass),
   * `ms` pass, or the signal aborts. True when woken. The delay is SETTLE_MS after a quiet spell, and
   * BURST_SETTLE_MS when ends kept arriving during the previous pass (a burst): every pass has a cost of its own
   * (its reads, each backend's status), and in a burst the backends have queued work anyway, so fewer, larger
   * passes finish the burst sooner (bench:flow: 6 wake-up passes instead of 30–40, the daemon's CPU down a third).
   */
  async wait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const settle = this.pending ? BURST_SETTLE_MS : SETTLE_MS;
    const woken = await new Promise<boolean>((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        this.poke = undefined;
        resolve(v);
      };
      const onAbort = (): void => done(false);
      const t = setTimeout(() => done(false), Math.max(0, ms));
      signal.addEventListener('abort', onAbort, { once: true });
      this.poke = () => done(true);
      if (this.pending) done(true);
    });
    if (woken && settle > 0) await new Promise((r) => setTimeout(r, Math.min(settle, Math.max(0, ms))));
    return woken && !signal.aborted;
  }

  /** Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const stop of this.unwatch.values()) stop();
    this.unwatch.clear();
  }
}
