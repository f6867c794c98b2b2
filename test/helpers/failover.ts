/** Helpers for the loop-health and fail-over tests: polling for a condition, a foreign loop's heartbeat. */
import type { Heartbeat } from '../../src/domain/loop-health.js';
import { heartbeatPoint, leasePoint } from '../../src/store/schema.js';
import type { Store } from '../../src/store/store.js';

/** Polls fn until it gives a value (no fixed sleeps: the machine is shared and loaded). */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * A loop of another host that holds `campaign` (lease valid for leaseMs more) and last passed `agoMs` ago,
 * with one job in flight submitted `oldestAgoMs` ago.
 */
export async function foreignLoop(
  store: Store,
  o: {
    loop: string;
    campaign: string;
    agoMs: number;
    intervalMs: number;
    oldestAgoMs: number;
    leaseMs: number;
  },
): Promise<void> {
  const now = Date.now();
  const [host = '', pid = '0'] = o.loop.split(':');
  const hb: Omit<Heartbeat, 'time'> = {
    loop: o.loop,
    slot: 'daemon/*',
    host,
    pid: Number(pid),
    version: '0.1.0',
    mode: 'daemon',
    started: now - 7_200_000,
    campaigns: [o.campaign],
    skipped: [],
    passStart: now - o.agoMs - 1_000,
    passEnd: now - o.agoMs,
    outcome: 'ok',
    error: '',
    intervalMs: o.intervalMs,
    leaseTtlMs: o.leaseMs,
    inFlight: { [o.campaign]: { count: 1, oldestSubmittedAt: now - o.oldestAgoMs } },
  };
  await store.writeServerStamped([heartbeatPoint(hb)], [leasePoint(o.campaign, o.loop, now + o.leaseMs)]);
}
