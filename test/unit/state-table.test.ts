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
  outputs: i % 2 ? [`/o/${run}.a`, `/o/${run},v2 b.root`] : [],
  reason: i % 5 ? '' : `why ${i}`,
  ...(i % 7 ? {} : { inputsFrom: `{"u":"r${run}","f":[]}` }),
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

describe('StateTable batches loaded lazily (snapshot chunks)', () => {
  const rest = (n: number, tag: string) => ({
    attempt: Array.from({ length: n }, (_, i) => i + 1),
    tries: Array.from({ length: n }, (_, i) => i + 2),
    outputs: Array.from({ length: n }, (_, i) => `/o/${tag}${i}.root`),
    reason: Array.from({ length: n }, (_, i) => (i % 2 ? `r${i}` : '')),
    time: Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i),
    inputsFrom: Array.from({ length: n }, () => ''),
  });

  it('gives statuses without loading, loads a batch once on the first full read, and keeps pairs set since', () => {
    const t = new StateTable();
    let loads = 0;
    const done = RUN_STATUSES.indexOf('done');
    t.putLazy('w', [10, 11, 12], [done, done, RUN_STATUSES.indexOf('new')], () => {
      loads++;
      return rest(3, 'a');
    });
    let otherLoads = 0;
    t.putLazy('x', [10], [done], () => {
      otherLoads++;
      return rest(1, 'b');
    });
    expect(t.size).toBe(4);
    expect(t.statusOf(stateKey(12, 'w'))).toBe('new');
    expect([...t.valuesWithStatus(['done'])].length).toBe(3);
    expect(loads).toBe(1); // the walk above read w's pairs in full
    expect(otherLoads).toBe(1);

    const u = new StateTable();
    let n = 0;
    u.putLazy('w', [10, 11], [done, done], () => {
      n++;
      return rest(2, 'c');
    });
    const mine: RunState = {
      run: 11,
      workflow: 'w',
      status: 'failed',
      attempt: 9,
      tries: 9,
      outputs: [],
      reason: 'set',
      time: 5,
    };
    u.set(stateKey(11, 'w'), mine);
    expect(n).toBe(0);
    expect(u.get(stateKey(10, 'w'))).toEqual({
      run: 10,
      workflow: 'w',
      status: 'done',
      attempt: 1,
      tries: 2,
      outputs: ['/o/c0.root'],
      reason: '',
      time: 1_700_000_000_000,
    });
    expect(u.get(stateKey(11, 'w'))).toEqual(mine); // the batch did not overwrite what was set after it
    u.get(stateKey(10, 'w'));
    expect(n).toBe(1);
    expect(u.size).toBe(2);
  });

  it('a batch that cannot be decoded fails the read that needs it, every time, and nothing else', () => {
    const t = new StateTable();
    t.putLazy('w', [1, 2], [0, 0], () => {
      throw new Error('bad columns');
    });
    t.set(stateKey(3, 'w'), st(3, 'w', 0));
    expect(t.statusOf(stateKey(1, 'w'))).toBe(RUN_STATUSES[0]);
    expect(t.get(stateKey(3, 'w'))).toEqual(st(3, 'w', 0));
    expect(() => t.get(stateKey(1, 'w'))).toThrow('bad columns');
    expect(() => t.get(stateKey(2, 'w'))).toThrow('bad columns');
  });
});
