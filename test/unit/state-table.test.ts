import { describe, expect, it } from 'vitest';
import { StateTable } from '../../src/domain/state-table.js';
import { stateKey, type RunState } from '../../src/domain/state.js';
import { RUN_STATUSES } from '../../src/domain/status.js';

const st = (run: number, workflow: string, i: number): RunState => ({
  run,
  workflow,
  status: RUN_STATUSES[i % RUN_STATUSES.length] ?? 'new',
  attempt: i % 4,
  tries: i % 3,
  outputs: i % 2 ? [`/o/${run}.a`, `/o/${run}.b`] : [],
  reason: i % 5 ? '' : `why ${i}`,
  time: 1_700_000_000_000 + i,
});

describe('StateTable', () => {
  it('behaves as the Map it replaces (get, set, has, size, iteration) over many pairs and workflows', () => {
    const t = new StateTable();
    const m = new Map<string, RunState>();
    for (let i = 0; i < 5000; i++) {
      const s = st(390000 + (i % 1700), `w\u0000x${i % 3}`.replace('\u0000', '-'), i);
      t.set(stateKey(s.run, s.workflow), s);
      m.set(stateKey(s.run, s.workflow), s);
    }
    expect(t.size).toBe(m.size);
    expect(Object.fromEntries([...t].sort())).toEqual(Object.fromEntries([...m].sort()));
    expect([...t.keys()].sort()).toEqual([...m.keys()].sort());
    expect(new Map(t)).toEqual(m);
    const k = stateKey(390005, 'w-x1');
    expect(t.get(k)).toEqual(m.get(k));
    expect(t.has(k)).toBe(true);
    expect(t.has(stateKey(1, 'w-x1'))).toBe(false);
    expect(t.get(stateKey(390005, 'nope'))).toBeUndefined();
    let n = 0;
    t.forEach(() => n++);
    expect(n).toBe(m.size);
  });
});
