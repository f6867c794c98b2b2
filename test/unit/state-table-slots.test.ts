import { describe, expect, it } from 'vitest';
import { StateTable } from '../../src/domain/state-table.js';
describe('StateTable run slots (dense index or map)', () => {
  it('holds random runs, dense, sparse and negative, like a Map', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let t = 0; t < 30; t++) {
      const st = new StateTable();
      const ref = new Map<string, number>();
      const spread = [10, 1000, 1e6, 1e9][t % 4] ?? 10;
      for (let i = 0; i < 3000; i++) {
        const run = Math.floor(rnd() * spread) + (t % 3 === 0 ? 0 : 400000) - (t % 5 === 0 ? 50 : 0);
        const wf = `w${Math.floor(rnd() * 3)}`;
        st.set(`${wf}\u0000${run}`, {
          run,
          workflow: wf,
          status: 'new',
          attempt: i,
          tries: 0,
          outputs: [],
          reason: '',
          time: 0,
        });
        ref.set(`${wf}\u0000${run}`, i);
      }
      expect(st.size).toBe(ref.size);
      for (const [k, v] of ref) expect(st.get(k)?.attempt).toBe(v);
      expect([...st.keys()].sort()).toEqual([...ref.keys()].sort());
      expect(st.has('w0\u0000-99999')).toBe(false);
    }
  });
});
