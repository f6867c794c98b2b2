/**
 * `why` explains every waiting state the planner knows, and agrees with it: a pair said "ready" is one the
 * planner submits, a pair said waiting is one it does not.
 */
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import type { JobRecord, LockRecord } from '../../src/domain/jobs.js';
import { planPass } from '../../src/domain/planner.js';
import { encodeProvenance } from '../../src/domain/provenance.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import type { RunStatus } from '../../src/domain/status.js';
import { explainRun, WHY_KINDS, type WhyInput, type WhyKind } from '../../src/domain/why.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';
import { makeRun, workflowSpec } from '../helpers/fixtures.js';

const wf = workflowSpec;

function campaign(
  workflows: WorkflowSpec[],
  active = workflows.map((w) => w.name),
  suspended: string[] = [],
): Campaign {
  return {
    name: 'c',
    description: '',
    createdAt: 0,
    rtypes: [{ name: 'all', filter: {}, workflows: active, suspended }],
    workflows,
  };
}

const st = (run: number, workflow: string, status: RunStatus, o: Partial<RunState> = {}): RunState => ({
  run,
  workflow,
  status,
  attempt: 0,
  tries: 0,
  outputs: [],
  reason: '',
  time: 1,
  ...o,
});

const job = (run: number, workflow: string, o: Partial<JobRecord> = {}): JobRecord => ({
  campaign: 'c',
  workflow,
  name: `rc.c.${workflow}.r${run}.a1`,
  unit: `r${run}`,
  runs: [run],
  attempt: 1,
  status: 'running',
  backend: 'local',
  nativeId: '42',
  stdout: '',
  stderr: '',
  exitCodeFile: '',
  outputFile: '',
  exitCode: null,
  outputs: [],
  reason: '',
  submittedAt: 1000,
  unknownSince: 0,
  heldSince: 0,
  time: 2000,
  ...o,
});

function input(
  c: Campaign,
  states: RunState[],
  o: Partial<WhyInput> = {},
  eras: Record<number, string> = {},
): WhyInput {
  const registered = new Map<number, RegisteredRun>();
  for (const s of states)
    registered.set(s.run, { ...makeRun(s.run, { era: eras[s.run] ?? 'E1' }), rtypes: ['all'] });
  return {
    campaign: c,
    states: new Map(states.map((s) => [stateKey(s.run, s.workflow), s])),
    registered,
    jobs: new Map(),
    locks: [],
    ...o,
  };
}

function kindOf(i: WhyInput, run: number, workflow: string): WhyKind {
  const a = explainRun(i, run, workflow).answers[0];
  if (!a) throw new Error('no answer');
  return a.kind;
}

/** Whether the planner would submit (or retry) the pair this pass. */
function submitted(i: WhyInput, run: number, workflow: string): boolean {
  const p = planPass(i.campaign, i.states, i.registered, i.jobs, i.locks);
  return p.submit.some((u) => u.workflow.name === workflow && u.runs.includes(run));
}

const lock: LockRecord = {
  campaign: 'c',
  workflow: 'B',
  fromRun: 100,
  reason: 'new pedestals',
  locked: true,
  by: 'ana@host',
  time: 5,
};
/** `b` depends on `a`: run `done` has `a` done, run `busy` has `a` in flight; `b` waits in both. */
function dependent(c: Campaign, a: string, b: string, done: number, busy: number): WhyInput {
  return input(
    c,
    [
      st(done, a, 'done'),
      st(done, b, 'new'),
      st(busy, a, 'processing', { attempt: 1, tries: 1 }),
      st(busy, b, 'new'),
    ],
    { jobs: new Map([['j', job(busy, a)]]) },
  );
}

const seen = new Set<WhyKind>();
function expectKind(i: WhyInput, run: number, workflow: string, kind: WhyKind, submits = false): void {
  expect(kindOf(i, run, workflow)).toBe(kind);
  expect(submitted(i, run, workflow)).toBe(submits);
  seen.add(kind);
}

describe('why', () => {
  const AB = [wf('A'), wf('B', { dependsOn: ['A'] })];

  it('done, ready and dependency not done', () => {
    const i = dependent(campaign(AB), 'A', 'B', 100, 101);
    expectKind(i, 100, 'A', 'done');
    expectKind(i, 100, 'B', 'ready', true);
    expectKind(i, 101, 'B', 'dependency');
    expect(explainRun(i, 101, 'B').answers[0]?.dependency).toEqual({ workflow: 'A', status: 'processing' });
  });

  it('a lock: by whom, why, since when', () => {
    const i = input(campaign(AB), [st(100, 'A', 'done'), st(100, 'B', 'new')], { locks: [lock] });
    expectKind(i, 100, 'B', 'lock');
    expect(explainRun(i, 100, 'B').answers[0]?.text).toMatch(/run 100 by ana@host since 1970.*new pedestals/);
  });

  it('jobs in flight, held, unknown, done but not recorded, retry, resubmit, retries exhausted', () => {
    const p = (run: number, tries = 1) => st(run, 'A', 'processing', { attempt: 1, tries });
    const jobs = new Map([
      ['1', job(1, 'A')],
      ['2', job(2, 'A', { heldSince: 7, reason: 'held: disk quota' })],
      ['3', job(3, 'A', { unknownSince: 9 })],
      ['4', job(4, 'A', { status: 'done' })],
      ['5', job(5, 'A', { status: 'failed', reason: 'exit 3' })],
      ['7', job(7, 'A', { status: 'failed', reason: 'exit 3' })],
    ]);
    const i = input(
      campaign([wf('A')]),
      [p(1), p(2), p(3), p(4), p(5), p(6), p(7, 2), st(8, 'A', 'failed', { reason: 'gave up' })],
      { jobs },
    );
    expectKind(i, 1, 'A', 'in-flight');
    expectKind(i, 2, 'A', 'held');
    expectKind(i, 3, 'A', 'unknown');
    expectKind(i, 4, 'A', 'finalising');
    expectKind(i, 5, 'A', 'retry-pending', true);
    expectKind(i, 6, 'A', 'resubmit', true);
    expectKind(i, 7, 'A', 'retries-exhausted');
    expectKind(i, 8, 'A', 'retries-exhausted');
    expect(explainRun(i, 8, 'A').answers[0]?.text).toContain('gave up');
  });

  it('deactivated campaign, inactive or undefined workflow, no run type selecting the run', () => {
    const states = [st(100, 'A', 'new')];
    expectKind(input(campaign([wf('A')], [], ['A']), states), 100, 'A', 'deactivated');
    expectKind(input(campaign([wf('A'), wf('Z')], ['Z']), states), 100, 'A', 'inactive-workflow');
    expectKind(input(campaign([], ['A']), states), 100, 'A', 'undefined-workflow');
    const i = {
      ...input(campaign([wf('A'), wf('B')]), [st(100, 'A', 'new')]),
      registered: new Map([[100, { ...makeRun(100), rtypes: ['cosmics'] }]]),
    };
    expectKind(i, 100, 'B', 'not-selected');
    expect(explainRun(i, 100, 'B').answers[0]?.text).toMatch(/no active run type selects run 100/);
  });

  it('waiting for the rest of the era, or for a full group', () => {
    const era = [wf('A'), wf('E', { dependsOn: ['A'], granularity: { kind: 'era' } })];
    const i = dependent(campaign(era), 'A', 'E', 1, 2);
    expectKind(i, 1, 'E', 'era-incomplete');
    expect(explainRun(i, 1, 'E').answers[0]?.waitingFor).toEqual([2]);
    const g = [wf('G', { granularity: { kind: 'every', n: 2 } })];
    const j = input(campaign(g), [st(1, 'G', 'new'), st(2, 'G', 'new'), st(3, 'G', 'new')]);
    expectKind(j, 1, 'G', 'ready', true);
    expectKind(j, 3, 'G', 'group-incomplete');
  });

  it('the in-flight limit, when the loop has one', () => {
    const i = input(
      campaign([wf('A')]),
      [st(1, 'A', 'new'), st(2, 'A', 'processing', { attempt: 1, tries: 1 })],
      {
        jobs: new Map([['j', job(2, 'A')]]),
        maxInFlight: 1,
      },
    );
    expect(kindOf(i, 1, 'A')).toBe('in-flight-limit');
    seen.add('in-flight-limit');
    expect(kindOf({ ...i, maxInFlight: 2 }, 1, 'A')).toBe('ready');
  });

  it('a done result whose parent re-ran is stale: said so, with what it was made from', () => {
    const from = (attempt: number) =>
      encodeProvenance({
        unit: 'r100',
        from: [{ workflow: 'A', run: 100, attempt, outputs: ['/a,1.root'] }],
      });
    const i = input(campaign(AB), [
      st(100, 'A', 'done', { attempt: 2 }),
      st(100, 'B', 'done', { attempt: 1, inputsFrom: from(1) }),
    ]);
    expectKind(i, 100, 'B', 'stale');
    const a = explainRun(i, 100, 'B').answers[0];
    expect(a?.text).toBe('done, but stale: A re-ran (attempt 2); this result used attempt 1');
    expect(a?.madeFrom?.from).toEqual([{ workflow: 'A', run: 100, attempt: 1, outputs: ['/a,1.root'] }]);
    const fresh = {
      ...i,
      states: new Map(i.states).set(
        stateKey(100, 'B'),
        st(100, 'B', 'done', { attempt: 1, inputsFrom: from(2) }),
      ),
    };
    expect(kindOf(fresh, 100, 'B')).toBe('done');
    expect(explainRun(fresh, 100, 'B').answers[0]?.text).toBe('done (made from A attempt 2)');
  });

  it('has covered every kind', () => {
    expect([...seen].sort()).toEqual([...WHY_KINDS].sort());
  });
});
