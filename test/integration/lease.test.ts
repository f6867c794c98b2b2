/**
 * The lease against a real InfluxDB: loops racing for the same campaigns each win a disjoint set, every
 * campaign is won by exactly one; a renewal keeps it, a release frees it, a share limits what one loop takes.
 */
import { describe, expect, it } from 'vitest';
import { Lease } from '../../src/automation/lease.js';
import { leaseHolder } from '../../src/domain/jobs.js';
import { Store } from '../../src/store/store.js';
import { freshDb } from '../helpers/influx.js';

describe('lease (real InfluxDB)', () => {
  const db = freshDb('lease');
  const store = new Store(db);

  it('racing loops: every campaign has exactly one holder, and each loop agrees with the stored claims', async () => {
    await store.ensureDatabase();
    for (let round = 0; round < 5; round++) {
      const scopes = ['a', 'b', 'c', 'd', 'e'].map((s) => `r${round}_${s}`);
      const leases = [0, 1, 2].map(() => new Lease(store, 30_000, { settleMs: 100 }));
      const results = await Promise.all(leases.map((l) => l.acquire(scopes)));
      const heldBy = new Map<string, number>();
      for (const r of results) for (const s of r.held) heldBy.set(s, (heldBy.get(s) ?? 0) + 1);
      for (const s of scopes) expect(heldBy.get(s), `scope ${s} in round ${round}`).toBe(1);
      const claims = await store.leasePointsByScope(Date.now() - 60_000);
      results.forEach((r, i) => {
        for (const s of r.held)
          expect(leaseHolder(claims.get(s) ?? [], Date.now())?.owner).toBe(leases[i]?.id);
        expect(r.held.length + r.busy.length).toBe(scopes.length);
      });
    }
  });

  it('keeps what it holds, frees it on release, and takes no more than its share', async () => {
    await store.ensureDatabase();
    const a = new Lease(store, 30_000, { settleMs: 50 });
    const b = new Lease(store, 30_000, { settleMs: 50 });
    const scopes = ['k1', 'k2', 'k3', 'k4'];
    expect((await a.acquire(scopes, { share: 2 })).held).toEqual(['k1', 'k2']);
    const rb = await b.acquire(scopes);
    expect(rb.held).toEqual(['k3', 'k4']);
    expect(rb.busy.map((x) => x.scope).sort()).toEqual(['k1', 'k2']);
    // a's renewal (with its heartbeat) keeps its leases
    const renewal = a.renewal();
    const sent = await store.writeServerStamped([], renewal.points);
    renewal.commit(sent, Date.now());
    expect((await a.acquire(scopes, { share: 2 })).held).toEqual(['k1', 'k2']);
    // a share of 1: a gives k2 up, b may take it
    const ra = await a.acquire(scopes, { share: 1 });
    expect(ra.held).toEqual(['k1']);
    expect(ra.spared).toEqual(['k2']);
    expect((await b.acquire(scopes)).held).toEqual(['k2', 'k3', 'k4']);
    await a.release();
    expect((await b.acquire(scopes)).held).toEqual(scopes);
  });
});
