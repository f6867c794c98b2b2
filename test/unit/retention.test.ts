/** Retention's pure part: the last N points per entity kept, the deletable ones as few exact ranges. */
import { describe, expect, it } from 'vitest';
import { deletionRanges, emptySeries, keepLastN, nsText } from '../../src/domain/retention.js';

describe('retention ranges', () => {
  it('nanosecond text of a millisecond and a key, beyond the exact integers of doubles', () => {
    expect(nsText(1_800_000_000_123, 386_001)).toBe('1800000000123386001');
    expect(nsText(1_800_000_000_123, 7)).toBe('1800000000123000007');
  });

  it('keeps each entity its last n points and everything newer than the cutoff; ranges never cover a kept one', () => {
    const s = emptySeries();
    const entity: number[] = [];
    // entities 1 and 2 interleaved, 5 points each at ms 10, 20, …; entity 3 a single old point
    for (let i = 0; i < 10; i++) {
      s.ms.push(10 * (i + 1));
      s.key.push(i % 2 === 0 ? 1 : 2);
      s.keep.push(true);
      entity.push(i % 2 === 0 ? 1 : 2);
    }
    s.ms.push(5);
    s.key.push(3);
    s.keep.push(true);
    entity.push(3);
    keepLastN(s, entity, 2, 95);
    // entity 1 at 10,30,50,70,90 keeps 70,90; entity 2 at 20,40,60,80,100 keeps 80,100; 3 keeps its one point
    expect(s.keep).toEqual([false, false, false, false, false, false, true, true, true, true, true]);
    const r = deletionRanges(s);
    expect(r).toEqual([{ from: nsText(10, 1), to: nsText(60, 2), points: 6 }]);
    // every kept point is outside every range
    for (let i = 0; i < s.ms.length; i++) {
      if (!s.keep[i]) continue;
      const t = BigInt(nsText(s.ms[i] ?? 0, s.key[i] ?? 0));
      for (const x of r) expect(t < BigInt(x.from) || t > BigInt(x.to)).toBe(true);
    }
  });

  it('the cutoff keeps newer points however many; a kept point in between splits the range', () => {
    const s = { ms: [1, 2, 3, 4, 5], key: [9, 9, 4, 9, 9], keep: [true, true, true, true, true] };
    keepLastN(s, [9, 9, 4, 9, 9], 1, 4);
    expect(s.keep).toEqual([false, false, true, true, true]);
    s.keep = [false, true, false, false, true];
    expect(deletionRanges(s)).toEqual([
      { from: nsText(1, 9), to: nsText(1, 9), points: 1 },
      { from: nsText(3, 4), to: nsText(4, 9), points: 2 },
    ]);
  });
});
