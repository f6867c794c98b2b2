/** Who holds the loop's lease, from the claim points alone (`leaseHolder`). */
import { describe, expect, it } from 'vitest';
import { leaseHolder, type LeasePoint } from '../../src/domain/jobs.js';

const TTL = 1_000;

/** A claim (or renewal) by `owner` at `time`, valid for TTL. */
const claim = (owner: string, time: number, ttl = TTL): LeasePoint => ({ owner, time, expires: time + ttl });
const release = (owner: string, time: number): LeasePoint => ({ owner, time, expires: 0 });

/** Every order of the points (up to 5 points: 120 orders). */
function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('leaseHolder', () => {
  it('has no holder without claims', () => {
    expect(leaseHolder([], 0)).toBeUndefined();
  });

  it('gives the lease to a claim until it expires', () => {
    const pts = [claim('a', 100)];
    expect(leaseHolder(pts, 100)?.owner).toBe('a');
    expect(leaseHolder(pts, 1_099)?.owner).toBe('a');
    expect(leaseHolder(pts, 1_100)).toBeUndefined();
  });

  it('gives the lease to the earliest claim; a later claim while it is valid is ignored', () => {
    const pts = [claim('b', 150), claim('a', 100)];
    expect(leaseHolder(pts, 500)).toEqual(claim('a', 100));
    // still a's after b's claim would have expired
    expect(leaseHolder(pts, 1_099)?.owner).toBe('a');
    // and nobody's after a's expiry: b's claim was never valid
    expect(leaseHolder(pts, 1_100)).toBeUndefined();
  });

  it('lets the holder renew, and a competitor take over only after the lease expired', () => {
    const renewed = [claim('a', 100), claim('a', 900), claim('b', 1_200)];
    expect(leaseHolder(renewed, 1_500)).toEqual(claim('a', 900));
    expect(leaseHolder(renewed, 1_900)).toBeUndefined();

    const lapsed = [claim('a', 100), claim('b', 1_100), claim('a', 1_200)];
    // a's lease expired at 1100 (exactly when b claimed): b holds, and a's late renewal does not steal it
    expect(leaseHolder(lapsed, 1_300)).toEqual(claim('b', 1_100));
  });

  it('lets the holder claim again after its own lease expired when nobody else did', () => {
    const pts = [claim('a', 100), claim('a', 5_000)];
    expect(leaseHolder(pts, 5_500)).toEqual(claim('a', 5_000));
    expect(leaseHolder(pts, 6_000)).toBeUndefined();
    // between the two claims nobody held it
    expect(leaseHolder(pts.slice(0, 1), 3_000)).toBeUndefined();
  });

  it('frees the lease on release; a release by anyone but the holder is ignored', () => {
    const released = [claim('a', 100), release('a', 200)];
    expect(leaseHolder(released, 300)).toBeUndefined();
    expect(leaseHolder([...released, claim('b', 300)], 400)?.owner).toBe('b');

    const foreign = [claim('a', 100), release('b', 200)];
    expect(leaseHolder(foreign, 300)?.owner).toBe('a');
    // a release alone holds nothing
    expect(leaseHolder([release('a', 100)], 150)).toBeUndefined();
  });

  it('makes two competitors that read at different times agree', () => {
    // both saw no holder, then each wrote its claim and read back to verify
    const a = claim('a', 1_000);
    const b = claim('b', 1_003);
    const readByA = leaseHolder([a, b], 1_004);
    const readByB = leaseHolder([b, a], 1_020);
    expect(readByA?.owner).toBe('a');
    expect(readByB?.owner).toBe('a');
    // a third loop (an overlapping Jenkins build) arriving later, after a renewed once, sees a too
    expect(leaseHolder([b, claim('a', 1_500), a, claim('c', 1_600)], 2_000)?.owner).toBe('a');
  });

  it('gives the same answer whatever the order the points were read in, ties included', () => {
    const histories: LeasePoint[][] = [
      [claim('a', 100), claim('b', 150), claim('a', 900), release('a', 1_000), claim('b', 1_050)],
      [claim('b', 100), claim('a', 100), claim('c', 100), claim('a', 600)],
      [claim('a', 100, 50), claim('b', 150), claim('a', 150), release('b', 160), claim('c', 170)],
    ];
    for (const pts of histories) {
      for (const now of [120, 155, 700, 1_100, 1_200]) {
        const answers = new Set(permutations(pts).map((p) => JSON.stringify(leaseHolder(p, now) ?? null)));
        expect(answers.size, `now ${now}: ${JSON.stringify(pts)}`).toBe(1);
      }
    }
    // in the second history the three claims share a millisecond: the winner does not depend on the order
    expect(leaseHolder([claim('c', 100), claim('b', 100), claim('a', 100)], 200)?.owner).toBe('a');
    // in the third, a's short lease expired at 150 when b and a both claimed: one of them holds, b released
    expect(leaseHolder(histories[2] ?? [], 165)?.owner).toBe('a');
  });

  it('does not change the points it is given', () => {
    const pts = [claim('b', 200), claim('a', 100)];
    const copy = structuredClone(pts);
    leaseHolder(pts, 150);
    expect(pts).toEqual(copy);
  });
});
