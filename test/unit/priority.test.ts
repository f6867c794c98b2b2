import { describe, expect, it } from 'vitest';
import {
  htcondorPriorityLines,
  lsfPriorityArgs,
  pbsPriorityArgs,
  sgePriorityArgs,
  slurmPriorityArgs,
} from '../../src/backends/priority.js';
import type { Campaign } from '../../src/domain/campaign.js';
import {
  HISTORY,
  priorityOrder,
  recentSubmissions,
  topPriority,
  unitPriority,
} from '../../src/domain/priority.js';
import { diffSpec, parseSpec } from '../../src/domain/spec.js';
import { UserError } from '../../src/errors.js';

const spec = (extra: Record<string, unknown> = {}, wf: Record<string, unknown> = {}): unknown => ({
  campaign: 'prio',
  rtypes: { all: { filter: { global: true }, workflows: ['reco'] } },
  workflows: { reco: { command: 'true', ...wf } },
  ...extra,
});

describe('priority in campaign files', () => {
  it('per campaign and per workflow, default 0; one-line errors for bad values', () => {
    expect(parseSpec(spec(), 'c.json').priority).toBe(0);
    const s = parseSpec(spec({ priority: 10 }, { priority: -3 }), 'c.json');
    expect(s.priority).toBe(10);
    expect(s.workflows[0]?.priority).toBe(-3);
    for (const bad of [1.5, '10', 1001, -1001, null]) {
      expect(() => parseSpec(spec({ priority: bad }), 'c.json')).toThrow(UserError);
      expect(() => parseSpec(spec({ priority: bad }), 'c.json')).toThrow(
        /^c\.json: 'priority' must be an integer from -1000 to 1000 \(higher first, default 0\)$/,
      );
      expect(() => parseSpec(spec({}, { priority: bad }), 'c.json')).toThrow(
        /^c\.json: workflow 'reco': 'priority' must be an integer from -1000 to 1000/,
      );
    }
  });

  it('apply sees a changed priority as a change of the campaign', () => {
    const s = parseSpec(spec({ priority: 5 }), 'c.json');
    const current: Campaign = {
      name: 'prio',
      description: '',
      createdAt: 1,
      rtypes: [{ name: 'all', filter: s.rtypes[0]?.filter ?? {}, workflows: ['reco'], suspended: [] }],
      workflows: s.workflows,
    };
    expect(diffSpec(s, current)).toEqual([{ kind: 'priority', name: 'prio', detail: '0 -> 5' }]);
    expect(diffSpec(s, { ...current, priority: 5 })).toEqual([]);
  });

  it("a unit's priority is its workflow's, else its campaign's, else 0; top over all campaigns", () => {
    expect(unitPriority({}, { priority: undefined })).toBe(0);
    expect(unitPriority({ priority: 4 }, {})).toBe(4);
    expect(unitPriority({ priority: 4 }, { priority: -1 })).toBe(-1);
    const c = (priority: number | undefined, wp?: number): Pick<Campaign, 'priority' | 'workflows'> => ({
      ...(priority !== undefined ? { priority } : {}),
      workflows: [
        {
          name: 'w',
          backend: 'local',
          resources: {},
          dependsOn: [],
          maxRetries: 0,
          granularity: { kind: 'run' },
        },
        ...(wp !== undefined
          ? [
              {
                name: 'x',
                backend: 'local',
                resources: {},
                dependsOn: [],
                maxRetries: 0,
                granularity: { kind: 'run' as const },
                priority: wp,
              },
            ]
          : []),
      ],
    });
    expect(topPriority([])).toBe(0);
    expect(topPriority([c(undefined), c(-5)])).toBe(0);
    expect(topPriority([c(-5), c(-2)])).toBe(-2);
    expect(topPriority([c(1, 20), c(3)])).toBe(20);
  });
});

interface U {
  c: string;
  p: number;
  i: number;
}
const units = (c: string, p: number, n: number): U[] => Array.from({ length: n }, (_, i) => ({ c, p, i }));
const key = (u: U): { campaign: string; priority: number } => ({ campaign: u.c, priority: u.p });

/**
 * Passes of a loop with an in-flight limit: each pass offers every campaign's remaining units, submits as many
 * as `rooms` says, stamping them with the pass's time; returns the submission order.
 */
function simulate(campaigns: { name: string; p: number; n: number }[], rooms: number[]): string[] {
  const left = new Map(campaigns.map((c) => [c.name, units(c.name, c.p, c.n)]));
  const times = new Map<string, number[]>(campaigns.map((c) => [c.name, []]));
  const order: string[] = [];
  rooms.forEach((room, pass) => {
    const offered = [...left.values()].flat();
    const served = new Map([...times].map(([c, ts]) => [c, recentSubmissions(ts)]));
    for (const u of priorityOrder(offered, key, served).slice(0, room)) {
      order.push(u.c);
      times.get(u.c)?.push(1000 + pass); // every unit of one pass in the same millisecond
      left.set(
        u.c,
        (left.get(u.c) ?? []).filter((x) => x !== u),
      );
    }
  });
  return order;
}

describe('priorityOrder', () => {
  it('every unit of a higher priority before any of a lower one, whatever the campaign names', () => {
    const order = simulate(
      [
        { name: 'a_low', p: 0, n: 4 },
        { name: 'z_high', p: 5, n: 4 },
      ],
      [2, 1, 2, 1, 2],
    );
    expect(order).toEqual(['z_high', 'z_high', 'z_high', 'z_high', 'a_low', 'a_low', 'a_low', 'a_low']);
  });

  it('equal priorities alternate across passes, whatever room each pass has (ties in one millisecond too)', () => {
    for (const rooms of [
      [2, 1, 1, 1, 1, 1, 1],
      [1, 2, 1, 2, 2],
      [1, 1, 2, 1, 3],
      [3, 1, 2, 2],
    ]) {
      const order = simulate(
        [
          { name: 'b', p: 0, n: 4 },
          { name: 'a', p: 0, n: 4 },
        ],
        rooms,
      );
      expect(order, `rooms ${rooms.join(',')}`).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    }
  });

  it('three campaigns take turns; one with nothing to submit does not hold the others', () => {
    const order = simulate(
      [
        { name: 'a', p: 1, n: 2 },
        { name: 'b', p: 1, n: 3 },
        { name: 'c', p: 1, n: 1 },
      ],
      [1, 1, 1, 1, 1, 1],
    );
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'b']);
  });

  it("keeps each campaign's own order; workflow priorities split a campaign across levels", () => {
    const items: U[] = [
      { c: 'x', p: 0, i: 0 },
      { c: 'x', p: 2, i: 1 },
      { c: 'x', p: 0, i: 2 },
      { c: 'y', p: 0, i: 3 },
    ];
    expect(priorityOrder(items, key, new Map()).map((u) => u.i)).toEqual([1, 0, 3, 2]);
  });

  it('recentSubmissions keeps the newest, newest first', () => {
    const ts = Array.from({ length: 20 }, (_, i) => (i * 7) % 20);
    const r = recentSubmissions(ts);
    expect(r).toHaveLength(HISTORY);
    expect(r).toEqual([19, 18, 17, 16, 15, 14, 13, 12]);
    expect(recentSubmissions([3, 3, 1])).toEqual([3, 3, 1]);
  });
});

describe("priorities in the batch systems' terms", () => {
  const p = (value: number, top: number): { value: number; top: number } => ({ value, top });
  it('Slurm nice: the highest gets none, lower ones positive nice', () => {
    expect(slurmPriorityArgs(undefined)).toEqual([]);
    expect(slurmPriorityArgs(p(10, 10))).toEqual([]);
    expect(slurmPriorityArgs(p(0, 10))).toEqual(['--nice=10']);
    expect(slurmPriorityArgs(p(-1000, 1000))).toEqual(['--nice=2000']);
  });
  it('Grid Engine -p: at most 0, at least -1023', () => {
    expect(sgePriorityArgs(p(5, 5))).toEqual([]);
    expect(sgePriorityArgs(p(0, 5))).toEqual(['-p', '-5']);
    expect(sgePriorityArgs(p(-1000, 1000))).toEqual(['-p', '-1023']);
  });
  it('HTCondor priority, LSF -sp (1…100 around 50), PBS -p (-1024…1023): the value itself', () => {
    expect(htcondorPriorityLines(p(0, 9))).toEqual([]);
    expect(htcondorPriorityLines(p(-7, 9))).toEqual(['priority = -7']);
    expect(lsfPriorityArgs(p(0, 9))).toEqual([]);
    expect(lsfPriorityArgs(p(9, 9))).toEqual(['-sp', '59']);
    expect(lsfPriorityArgs(p(-900, 9))).toEqual(['-sp', '1']);
    expect(lsfPriorityArgs(p(900, 900))).toEqual(['-sp', '100']);
    expect(pbsPriorityArgs(p(0, 3))).toEqual([]);
    expect(pbsPriorityArgs(p(-3, 3))).toEqual(['-p', '-3']);
    expect(pbsPriorityArgs(p(1000, 1000))).toEqual(['-p', '1000']);
  });
});
