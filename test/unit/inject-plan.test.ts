import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import { matchingRtypes, planInject, type InjectMode } from '../../src/domain/inject-plan.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import type { RunStatus } from '../../src/domain/status.js';
import { makeRun } from '../helpers/fixtures.js';

const campaign: Campaign = {
  name: 'c',
  description: '',
  createdAt: 1,
  rtypes: [
    { name: 'all', filter: { global: true }, workflows: ['reco', 'timing'], suspended: [] },
    {
      name: 'stable_beams',
      filter: { global: true, stableBeams: true },
      workflows: ['reco', 'pi0'],
      suspended: [],
    },
    { name: 'cosmics', filter: { runClass: ['Cosmics24'] }, workflows: [], suspended: ['cosmic-mon'] },
  ],
  workflows: [],
};

const beam = makeRun(1);
const noBeam = makeRun(2, { stableBeams: false });
const local = makeRun(3, { global: false, runClass: 'Cosmics24' });

function state(run: number, workflow: string, status: RunStatus, attempt = 1): [string, RunState] {
  return [
    stateKey(run, workflow),
    { run, workflow, status, attempt, tries: 1, outputs: [], reason: '', time: 1 },
  ];
}

function registered(run: number, rtypes: string[]): [number, RegisteredRun] {
  return [run, { ...makeRun(run), rtypes }];
}

describe('planInject', () => {
  it('matches every run type and gives the union of their active workflows status new', () => {
    expect(matchingRtypes(campaign, beam)).toEqual(['all', 'stable_beams']);
    const plan = planInject(campaign, [beam, noBeam], new Map(), new Map(), 'missing');
    expect(plan.register.map((r) => [r.info.run, r.rtypes])).toEqual([
      [1, ['all', 'stable_beams']],
      [2, ['all']],
    ]);
    expect(plan.changes).toEqual([
      { run: 1, workflow: 'reco', status: 'new' },
      { run: 1, workflow: 'timing', status: 'new' },
      { run: 1, workflow: 'pi0', status: 'new' },
      { run: 2, workflow: 'reco', status: 'new' },
      { run: 2, workflow: 'timing', status: 'new' },
    ]);
    expect(plan.unmatched).toEqual([]);
  });

  it('registers but reports runs whose run types have no active workflow (suspended ones do not count)', () => {
    const plan = planInject(campaign, [local], new Map(), new Map(), 'all');
    expect(plan.register.map((r) => r.rtypes)).toEqual([['cosmics']]);
    expect(plan.changes).toEqual([]);
    expect(plan.unmatched).toEqual([3]);
  });

  it('does not register a run again when its matching run types are unchanged', () => {
    const plan = planInject(
      campaign,
      [beam, noBeam],
      new Map(),
      new Map([registered(1, ['all', 'stable_beams']), registered(2, ['stable_beams'])]),
      'missing',
    );
    expect(plan.register.map((r) => r.info.run)).toEqual([2]);
  });

  const current = new Map([
    state(1, 'reco', 'done', 2),
    state(1, 'timing', 'failed', 3),
    state(1, 'pi0', 'processing'),
    state(2, 'reco', 'new'),
    state(2, 'timing', 'reprocess', 4),
  ]);
  const summary = (mode: InjectMode) => {
    const plan = planInject(campaign, [beam, noBeam, makeRun(9)], current, new Map(), mode);
    return {
      changes: plan.changes.map(
        (c) => `${c.run}/${c.workflow}:${c.status}${c.attempt === undefined ? '' : `@${c.attempt}`}`,
      ),
      kept: plan.kept,
    };
  };

  it('mode missing: only pairs without a status; progress is never reset', () => {
    expect(summary('missing')).toEqual({
      changes: ['9/reco:new', '9/timing:new', '9/pi0:new'],
      kept: {
        'already done': 1,
        'already failed': 1,
        'already processing': 1,
        'already new': 1,
        'already reprocess': 1,
      },
    });
  });

  it('mode failed: also sets failed pairs to reprocess, keeping their attempt number', () => {
    expect(summary('failed')).toEqual({
      changes: ['1/timing:reprocess@3', '9/reco:new', '9/timing:new', '9/pi0:new'],
      kept: { 'already done': 1, 'already processing': 1, 'already new': 1, 'already reprocess': 1 },
    });
  });

  it('mode all: reprocesses done and failed, but never pairs in flight or already waiting', () => {
    expect(summary('all')).toEqual({
      changes: ['1/reco:reprocess@2', '1/timing:reprocess@3', '9/reco:new', '9/timing:new', '9/pi0:new'],
      kept: { 'processing (jobs in flight)': 1, 'already new': 1, 'already reprocess': 1 },
    });
    const plan = planInject(campaign, [beam], current, new Map(), 'all');
    expect(plan.changes.every((c) => c.status !== 'reprocess' || c.tries === 0)).toBe(true);
  });

  it('registers each run with its own matching run types, with few or many (> 30) run types', () => {
    for (const n of [3, 33]) {
      const many: Campaign = {
        ...campaign,
        rtypes: Array.from({ length: n }, (_, i) => ({
          name: `t${i}`,
          filter:
            i % 3 === 0
              ? { global: true }
              : i % 3 === 1
                ? { stableBeams: true }
                : { runClass: ['Cosmics24'] },
          workflows: [`w${i % 4}`],
          suspended: [],
        })),
      };
      const runs = [beam, noBeam, local, makeRun(4)];
      const plan = planInject(many, runs, new Map(), new Map(), 'missing');
      expect(plan.register.map((r) => r.rtypes)).toEqual(runs.map((r) => matchingRtypes(many, r)));
      expect(plan.register[0]?.rtypes).not.toBe(plan.register[3]?.rtypes);
      const wfs = (r: (typeof runs)[number]): string[] => [
        ...new Set(
          many.rtypes.filter((t) => matchingRtypes(many, r).includes(t.name)).flatMap((t) => t.workflows),
        ),
      ];
      expect(plan.changes.map((c) => `${c.run}/${c.workflow}`)).toEqual(
        runs.flatMap((r) => wfs(r).map((w) => `${r.run}/${w}`)),
      );
    }
  });
});
