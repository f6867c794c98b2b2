/** Blocked (a derived display status) and the dependency order of the views: pure. */
import { describe, expect, it } from 'vitest';
import { blockedPairs, displayStatus, type BlockInput } from '../../src/domain/blocked.js';
import type { Campaign } from '../../src/domain/campaign.js';
import type { LockRecord } from '../../src/domain/jobs.js';
import { dependencyOrder } from '../../src/domain/order.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import type { RunStatus } from '../../src/domain/status.js';
import { explainRun } from '../../src/domain/why.js';
import type { Granularity, WorkflowSpec } from '../../src/domain/workflow.js';
import { makeRun } from '../helpers/fixtures.js';

const wf = (
  name: string,
  dependsOn: string[] = [],
  granularity: Granularity = { kind: 'run' },
): WorkflowSpec => ({
  name,
  command: 'true',
  backend: 'local',
  resources: {},
  dependsOn,
  maxRetries: 0,
  granularity,
});

const campaign = (workflows: WorkflowSpec[], active = workflows.map((w) => w.name)): Campaign => ({
  name: 'c',
  description: '',
  createdAt: 0,
  rtypes: [{ name: 'all', filter: {}, workflows: active, suspended: [] }],
  workflows,
});

const st = (run: number, workflow: string, status: RunStatus): RunState => ({
  run,
  workflow,
  status,
  attempt: 0,
  tries: 0,
  outputs: [],
  reason: '',
  time: 1,
});

function input(
  c: Campaign,
  states: RunState[],
  locks: LockRecord[] = [],
  era = (r: number) => `E${r % 2}`,
): BlockInput {
  return {
    campaign: c,
    states: new Map(states.map((s) => [stateKey(s.run, s.workflow), s])),
    registered: new Map<number, RegisteredRun>(
      states.map((s) => [s.run, { ...makeRun(s.run, { era: era(s.run) }), rtypes: ['all'] }]),
    ),
    locks,
  };
}

const kinds = (i: BlockInput): Record<string, string> =>
  Object.fromEntries([...blockedPairs(i)].map(([k, v]) => [k.replace('\u0000', ' '), v.kind]));

const reco = wf('reco');
const mon = wf('mon', ['reco']);
const combi = wf('combi', ['mon'], { kind: 'era' });

describe('blocked', () => {
  it('a dependency failed for good blocks its dependants, transitively, and the rest of the era', () => {
    const i = input(campaign([reco, mon, combi]), [
      st(1, 'reco', 'failed'),
      st(1, 'mon', 'new'),
      st(1, 'combi', 'new'),
      st(3, 'reco', 'done'),
      st(3, 'mon', 'done'),
      st(3, 'combi', 'new'),
      st(2, 'reco', 'processing'),
      st(2, 'mon', 'new'),
      st(2, 'combi', 'new'),
    ]);
    expect(kinds(i)).toEqual({ 'mon 1': 'dependency', 'combi 1': 'dependency', 'combi 3': 'era' });
    const b = blockedPairs(i);
    expect(b.get(stateKey(1, 'combi'))?.text).toBe(
      'mon is blocked: reco failed for good (reprocess reco to go on)',
    );
    expect(b.get(stateKey(3, 'combi'))?.text).toMatch(/^era E1 cannot complete: run 1 is blocked/);
    expect(displayStatus(b, stateKey(1, 'mon'), 'new')).toBe('blocked');
    expect(displayStatus(b, stateKey(2, 'mon'), 'new')).toBe('new');
    // reprocessing the failed dependency clears every block by itself
    const again = input(campaign([reco, mon, combi]), [
      ...[...i.states.values()].filter((s) => !(s.run === 1 && s.workflow === 'reco')),
      st(1, 'reco', 'reprocess'),
    ]);
    expect(kinds(again)).toEqual({});
  });

  it('a lock of this campaign blocks, a lock of another does not; unlock clears it', () => {
    const lock: LockRecord = {
      campaign: 'c',
      workflow: 'mon',
      fromRun: 2,
      reason: 'peds',
      locked: true,
      by: 'ana',
      time: 0,
    };
    const states = [st(1, 'reco', 'done'), st(1, 'mon', 'new'), st(2, 'reco', 'done'), st(2, 'mon', 'new')];
    expect(kinds(input(campaign([reco, mon]), states, [lock]))).toEqual({ 'mon 2': 'lock' });
    expect(kinds(input(campaign([reco, mon]), states, [{ ...lock, campaign: 'other' }]))).toEqual({});
    expect(kinds(input(campaign([reco, mon]), states, [{ ...lock, locked: false }]))).toEqual({});
  });

  it('a deactivated campaign, an inactive workflow', () => {
    const states = [st(1, 'reco', 'new'), st(1, 'mon', 'done')];
    const off: Campaign = {
      ...campaign([reco, mon]),
      rtypes: [{ name: 'all', filter: {}, workflows: [], suspended: ['reco'] }],
    };
    expect(kinds(input(off, states))).toEqual({ 'reco 1': 'deactivated' });
    expect(kinds(input(campaign([reco, mon], ['mon']), states))).toEqual({ 'reco 1': 'inactive-workflow' });
    // a workflow without a definition waits for one: not blocked
    expect(kinds(input(campaign([mon], ['reco', 'mon']), states))).toEqual({});
  });

  it('every N: the trailing runs are blocked only when no other run is on its way', () => {
    const g = wf('g', ['reco'], { kind: 'every', n: 2 });
    const done = [1, 2, 3].flatMap((r) => [st(r, 'reco', 'done'), st(r, 'g', 'new')]);
    expect(kinds(input(campaign([reco, g]), done))).toEqual({ 'g 3': 'group' });
    const onItsWay = [...done, st(4, 'reco', 'processing'), st(4, 'g', 'new')];
    expect(kinds(input(campaign([reco, g]), onItsWay))).toEqual({});
  });

  it('why says blocked and why, in dependency order', () => {
    const i = {
      ...input(campaign([reco, mon]), [st(1, 'reco', 'failed'), st(1, 'mon', 'new')]),
      jobs: new Map(),
    };
    const r = explainRun(i, 1);
    expect(r.answers.map((a) => a.workflow)).toEqual(['reco', 'mon']);
    expect(r.answers[1]).toMatchObject({ kind: 'dependency', blocked: { kind: 'dependency' } });
    expect(r.answers[1]?.text).toBe('blocked: reco failed for good (reprocess reco to go on)');
  });
});

describe('dependency order', () => {
  it('is by depth of dependencies (a topological order) with ties by name, also through workflows not shown', () => {
    const specs = [
      wf('a'),
      wf('era-step', ['z-reco']),
      wf('z-reco'),
      wf('b', ['era-step']),
      wf('mon', ['z-reco']),
    ];
    expect(dependencyOrder(['a', 'b', 'era-step', 'mon', 'z-reco', 'undefined'], specs)).toEqual([
      'a',
      'undefined',
      'z-reco',
      'era-step',
      'mon',
      'b',
    ]);
    expect(dependencyOrder(['b', 'z-reco'], specs)).toEqual(['z-reco', 'b']);
  });

  it('cuts a cycle', () => {
    expect(dependencyOrder(['x', 'y'], [wf('x', ['y']), wf('y', ['x'])])).toEqual(['x', 'y']);
  });
});
