/** Loop health from heartbeats and lease claims (pure): live/stale/stopped loops, stale campaigns. */
import { describe, expect, it } from 'vitest';
import type { LeasePoint } from '../../src/domain/jobs.js';
import { campaignHealth, loopViews, type Heartbeat } from '../../src/domain/loop-health.js';

const NOW = 1_000_000_000;

function beat(loop: string, passEnd: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    loop,
    slot: 'daemon/*',
    host: loop.split(':')[0] ?? '',
    pid: Number(loop.split(':')[1]),
    version: '0.1.0',
    mode: 'daemon',
    started: 0,
    campaigns: ['c'],
    skipped: [],
    passStart: passEnd - 500,
    passEnd,
    outcome: 'ok',
    error: '',
    intervalMs: 60_000,
    leaseTtlMs: 180_000,
    inFlight: { c: { count: 3, oldestSubmittedAt: NOW - 3_600_000 } },
    time: passEnd,
    ...extra,
  };
}
const held = (owner: string, scope = 'c'): Map<string, LeasePoint[]> =>
  new Map([[scope, [{ owner, time: NOW - 10_000, expires: NOW + 170_000 }]]]);
const work = { name: 'c', active: true, hasWork: true };

describe('loop health', () => {
  it('a loop is live up to three intervals after its last pass, then stale; stopped once it said so', () => {
    const views = (end: number, outcome: Heartbeat['outcome'] = 'ok') =>
      loopViews([beat('h:1:x', end, { outcome })], held('h:1:x'), NOW)[0];
    expect(views(NOW - 180_000)).toMatchObject({ status: 'live', holds: ['c'] });
    expect(views(NOW - 180_001)?.status).toBe('stale');
    expect(views(NOW - 1_000, 'stopped')?.status).toBe('stopped');
  });

  it('a held campaign: its holder, last pass and oldest job; stale after three intervals without a pass', () => {
    const fresh = campaignHealth([work], [beat('h:1:x', NOW - 5_000)], held('h:1:x'), NOW).get('c');
    expect(fresh).toMatchObject({
      holder: 'h:1:x',
      loopLabel: 'h:1',
      sinceLastPassMs: 5_000,
      oldestInFlightAgeMs: 3_600_000,
      stale: false,
    });
    const old = campaignHealth([work], [beat('h:1:x', NOW - 200_000)], held('h:1:x'), NOW).get('c');
    expect(old).toMatchObject({ stale: true });
    expect(old?.reason).toMatch(/^no pass for 3m/);
  });

  it('nobody holds it: stale when it is active with work, not when idle or without work', () => {
    const none = new Map<string, LeasePoint[]>();
    const beats = [beat('h:1:x', NOW - 5_000, { inFlight: {} })];
    expect(campaignHealth([work], beats, none, NOW).get('c')).toMatchObject({
      holder: '',
      loopLabel: 'h:1',
      stale: true,
      reason: 'no loop holds it (last pass 5s ago)',
    });
    expect(campaignHealth([{ ...work, hasWork: false }], beats, none, NOW).get('c')?.stale).toBe(false);
    expect(campaignHealth([{ ...work, active: false }], beats, none, NOW).get('c')?.stale).toBe(false);
    expect(campaignHealth([work], [], none, NOW).get('c')).toMatchObject({
      stale: true,
      reason: 'no loop holds it',
      sinceLastPassMs: null,
    });
  });

  it('a campaign that --once runs (cron) pass over is stale only when they are overdue', () => {
    const none = new Map<string, LeasePoint[]>();
    const once = (ago: number) => [beat('h:1:x', NOW - ago, { mode: 'once', intervalMs: 300_000 })];
    expect(campaignHealth([work], once(600_000), none, NOW).get('c')?.stale).toBe(false);
    expect(campaignHealth([work], once(900_001), none, NOW).get('c')).toMatchObject({
      stale: true,
      reason: 'no loop holds it (last pass 15m ago)',
    });
  });

  it('the last pass is that of the newest heartbeat that held the campaign (the new holder after a take-over)', () => {
    const beats = [beat('dead:1:x', NOW - 400_000), beat('new:2:y', NOW - 2_000)];
    const h = campaignHealth([work], beats, held('new:2:y'), NOW).get('c');
    expect(h).toMatchObject({ holder: 'new:2:y', loopLabel: 'new:2', sinceLastPassMs: 2_000, stale: false });
  });
});
