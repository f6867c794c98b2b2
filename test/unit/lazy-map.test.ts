import { describe, expect, it } from 'vitest';
import { LazyMap } from '../../src/domain/lazy-map.js';

describe('LazyMap', () => {
  it('answers has and size without decoding, decodes a batch once on its first get, and keeps later sets', () => {
    const m = new LazyMap<number, string>();
    const loads: string[] = [];
    m.putLazy([1, 2, 3], () => (loads.push('a'), ['a1', 'a2', 'a3']));
    m.putLazy([4, 5], () => (loads.push('b'), ['b4', 'b5']));
    m.set(2, 'mine');
    m.set(9, 'nine');
    expect(m.size).toBe(6);
    expect(m.has(5) && m.has(2) && !m.has(6)).toBe(true);
    expect([...m.keys()].sort()).toEqual([1, 2, 3, 4, 5, 9]);
    expect(loads).toEqual([]);
    expect(m.get(1)).toBe('a1');
    expect(m.get(2)).toBe('mine'); // set after the batch arrived: stands over it
    expect(m.get(3)).toBe('a3');
    expect(loads).toEqual(['a']);
    expect(new Map(m)).toEqual(
      new Map([
        [9, 'nine'],
        [2, 'mine'],
        [1, 'a1'],
        [3, 'a3'],
        [4, 'b4'],
        [5, 'b5'],
      ]),
    );
    expect(loads).toEqual(['a', 'b']);
    expect(m.delete(4)).toBe(true);
    expect(m.size).toBe(5);
  });

  it('a later batch stands over an earlier value; a batch that fails to decode fails each read of it', () => {
    const m = new LazyMap<number, string>();
    m.set(1, 'old');
    m.putLazy([1], () => ['new']);
    expect(m.get(1)).toBe('new');
    m.putLazy([7, 8], () => {
      throw new Error('bad batch');
    });
    expect(m.has(7)).toBe(true);
    expect(() => m.get(7)).toThrow('bad batch');
    expect(() => m.get(8)).toThrow('bad batch');
    expect(m.get(1)).toBe('new');
    const short = new LazyMap<number, string>();
    short.putLazy([1, 2], () => ['x']);
    expect(() => short.get(1)).toThrow(/another number of values/);
  });
});
