/**
 * The pure pass planner: dependencies, retries, locks, active workflows, granularity, repairs after a crash,
 * the submit cap and the inputs handed to dependants.
 */
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import { lockHolds, type JobRecord, type LockRecord } from '../../src/domain/jobs.js';
import { latestJobs, planPass, type PassPlan, type PlanOptions } from '../../src/domain/planner.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import type { JobStatus, RunStatus } from '../../src/domain/status.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';
import { makeRun } from '../helpers/fixtures.js';

function wf(name: string, over: Partial<WorkflowSpec> = {}): WorkflowSpec {
  return {
    name,
    command: `run-${name} {run}`,
    backend: 'local',
    resources: {},
    dependsOn: [],
    maxRetries: 2,
    granularity: { kind: 'run' },
    ...over,
  };
}

/** A campaign defining `specs`, with one run type activating `active` (default: all of them). */
function campaign(
  specs: WorkflowSpec[],
  active: string[] = specs.map((s) => s.name),
  suspended: string[] = [],
): Campaign {
  return {
    name: 'c',
    description: '',
    createdAt: 1,
    rtypes: [{ name: 'all', filter: {}, workflows: active, suspended }],
    workflows: specs,
  };
}

function st(run: number, workflow: string, status: RunStatus, over: Partial<RunState> = {}): RunState {
  return { run, workflow, status, attempt: 0, tries: 0, outputs: [], reason: '', time: 1, ...over };
}

function states(...list: RunState[]): Map<string, RunState> {
  return new Map(list.map((s) => [stateKey(s.run, s.workflow), s]));
}

function job(
  workflow: string,
  runs: number[],
  attempt: number,
  status: JobStatus,
  over: Partial<JobRecord> = {},
): JobRecord {
  const unit = over.unit ?? `r${runs[0] ?? 0}`;
  return {
    campaign: 'c',
    workflow,
    name: `rc.c.${workflow}.${unit}.a${attempt}`,
    unit,
    runs,
    attempt,
    status,
    backend: 'local',
    nativeId: status === 'idle' ? '' : `n${attempt}`,
    stdout: '',
    stderr: '',
    exitCodeFile: '',
    outputFile: '',
    exitCode: status === 'done' ? 0 : status === 'failed' ? 1 : null,
    outputs: [],
    reason: '',
    submittedAt: 10,
    unknownSince: 0,
    heldSince: 0,
    time: 10 + attempt,
    ...over,
  };
}

function jobs(...list: JobRecord[]): Map<string, JobRecord> {
  return new Map(list.map((j) => [j.name, j]));
}

/** Registered runs: run → era (fill = 100 + run). */
function reg(eras: Record<number, string>): Map<number, RegisteredRun> {
  return new Map(
    Object.entries(eras).map(([r, era]) => {
      const run = Number(r);
      return [run, { ...makeRun(run, { era, fill: 100 + run }), rtypes: ['all'] }];
    }),
  );
}

function lock(workflow: string, fromRun: number, locked = true): LockRecord {
  return { campaign: 'c', workflow, fromRun, reason: 'calibration', locked, by: 'op', time: 1 };
}

interface Input {
  c: Campaign;
  s?: Map<string, RunState>;
  r?: Map<number, RegisteredRun>;
  j?: Map<string, JobRecord>;
  l?: LockRecord[];
  o?: PlanOptions;
}

function plan({ c, s = new Map(), r = new Map(), j = new Map(), l = [], o = {} }: Input): PassPlan {
  return planPass(c, s, r, j, l, o);
}

/** The submitted units in a compact form. */
function submitted(p: PassPlan): string[] {
  return p.submit.map((u) => `${u.workflow.name}:${u.unit}:a${u.attempt}:t${u.tries}`);
}

describe('planPass: dependencies', () => {
  const A = wf('A');
  const B = wf('B', { dependsOn: ['A'] });
  const c = campaign([A, B]);

  it('submits a dependency first and keeps the dependant waiting for it', () => {
    const p = plan({ c, s: states(st(1, 'A', 'new'), st(1, 'B', 'new')) });
    expect(submitted(p)).toEqual(['A:r1:a1:t1']);
    expect(p.waiting).toEqual({ 'B: waiting for A': 1 });
    expect(p.finalize).toEqual([]);
  });

  it('submits the dependant once the dependency is done, with its outputs as inputs', () => {
    const p = plan({
      c,
      s: states(st(1, 'A', 'done', { attempt: 1, tries: 1, outputs: ['/a/1.root'] }), st(1, 'B', 'new')),
    });
    expect(submitted(p)).toEqual(['B:r1:a1:t1']);
    expect(p.submit[0]?.inputs).toEqual({ A: ['/a/1.root'] });
    expect(p.waiting).toEqual({});
  });

  it('makes the dependant ready in the same plan when the dependency is finalised done', () => {
    const p = plan({
      c,
      s: states(st(1, 'A', 'processing', { attempt: 1, tries: 1 }), st(1, 'B', 'new')),
      j: jobs(job('A', [1], 1, 'done', { outputs: ['/a/1.root', '/a/1.log'] })),
    });
    expect(p.finalize).toEqual([
      {
        run: 1,
        workflow: 'A',
        status: 'done',
        attempt: 1,
        tries: 1,
        outputs: ['/a/1.root', '/a/1.log'],
      },
    ]);
    expect(submitted(p)).toEqual(['B:r1:a1:t1']);
    expect(p.submit[0]?.inputs).toEqual({ A: ['/a/1.root', '/a/1.log'] });
  });

  it('orders dependants after their dependencies whatever the declaration order', () => {
    // Z (alphabetically last) is the dependency of A2: A2 must still see Z finalised
    const Z = wf('Z');
    const A2 = wf('A2', { dependsOn: ['Z'] });
    const p = plan({
      c: campaign([A2, Z]),
      s: states(st(1, 'Z', 'processing', { attempt: 1, tries: 1 }), st(1, 'A2', 'new')),
      j: jobs(job('Z', [1], 1, 'done', { outputs: ['z'] })),
    });
    expect(submitted(p)).toEqual(['A2:r1:a1:t1']);
  });

  it('keeps the dependant waiting while the dependency runs, fails or is being retried', () => {
    const p = plan({
      c,
      s: states(
        st(1, 'A', 'processing', { attempt: 1, tries: 1 }),
        st(1, 'B', 'new'),
        st(2, 'A', 'processing', { attempt: 1, tries: 1 }),
        st(2, 'B', 'new'),
        st(3, 'A', 'failed', { attempt: 3, tries: 3 }),
        st(3, 'B', 'new'),
      ),
      j: jobs(job('A', [1], 1, 'running'), job('A', [2], 1, 'failed')),
    });
    expect(submitted(p)).toEqual(['A:r2:a2:t2']);
    expect(p.waiting).toEqual({ 'B: waiting for A': 3 });
  });

  it('needs every dependency done and passes the outputs of each, by workflow', () => {
    const C = wf('C', { dependsOn: ['A', 'B'] });
    const p = plan({
      c: campaign([A, wf('B'), C]),
      s: states(
        st(1, 'A', 'done', { outputs: ['a1'] }),
        st(1, 'B', 'done', { outputs: ['b1', 'b1x'] }),
        st(1, 'C', 'new'),
        st(2, 'A', 'done', { outputs: ['a2'] }),
        st(2, 'B', 'new'),
        st(2, 'C', 'new'),
      ),
    });
    expect(submitted(p)).toEqual(['B:r2:a1:t1', 'C:r1:a1:t1']);
    expect(p.submit.find((u) => u.workflow.name === 'C')?.inputs).toEqual({ A: ['a1'], B: ['b1', 'b1x'] });
    expect(p.waiting).toEqual({ 'C: waiting for B': 1 });
  });
});

describe('planPass: retries', () => {
  const W = wf('W', { maxRetries: 2 });
  const c = campaign([W]);

  it('resubmits a failed job with attempt + 1 while tries ≤ max_retries', () => {
    for (const tries of [1, 2]) {
      const p = plan({
        c,
        s: states(st(7, 'W', 'processing', { attempt: 4, tries })),
        j: jobs(job('W', [7], 4, 'failed', { reason: 'exit code 1' })),
      });
      expect(submitted(p)).toEqual([`W:r7:a5:t${tries + 1}`]);
      expect(p.submit[0]?.retryOf).toBe('rc.c.W.r7.a4');
      expect(p.finalize).toEqual([]);
      expect(p.failedForGood).toEqual([]);
    }
  });

  it('fails the pair for good beyond max_retries, with a reason', () => {
    const p = plan({
      c,
      s: states(st(7, 'W', 'processing', { attempt: 3, tries: 3 })),
      j: jobs(job('W', [7], 3, 'failed', { reason: 'exit code 137' })),
    });
    expect(p.submit).toEqual([]);
    const reason = 'attempt 3 failed: exit code 137 (3 tries, max_retries 2)';
    expect(p.finalize).toEqual([{ run: 7, workflow: 'W', status: 'failed', attempt: 3, tries: 3, reason }]);
    expect(p.failedForGood).toEqual([{ run: 7, workflow: 'W', reason, job: 'rc.c.W.r7.a3' }]);
  });

  it('with max_retries 0 the first failure is final', () => {
    const p = plan({
      c: campaign([wf('W', { maxRetries: 0 })]),
      s: states(st(7, 'W', 'processing', { attempt: 1, tries: 1 })),
      j: jobs(job('W', [7], 1, 'failed')),
    });
    expect(p.submit).toEqual([]);
    expect(p.failedForGood.map((f) => f.reason)).toEqual(['attempt 1 failed (1 tries, max_retries 0)']);
  });

  it('follows a job in flight without touching the pair', () => {
    for (const status of ['idle', 'running'] as const) {
      const p = plan({
        c,
        s: states(st(7, 'W', 'processing', { attempt: 1, tries: 1 })),
        j: jobs(job('W', [7], 1, status)),
      });
      expect(p).toMatchObject({ submit: [], finalize: [], waiting: {} });
    }
  });

  it('follows the latest attempt only', () => {
    const p = plan({
      c,
      s: states(st(7, 'W', 'processing', { attempt: 2, tries: 2 })),
      j: jobs(job('W', [7], 1, 'failed'), job('W', [7], 2, 'done', { outputs: ['o2'] })),
    });
    expect(p.finalize).toEqual([
      { run: 7, workflow: 'W', status: 'done', attempt: 2, tries: 2, outputs: ['o2'] },
    ]);
    expect(p.submit).toEqual([]);
  });

  it('retries a failed group job as one unit under the same unit key', () => {
    const E = wf('E', { granularity: { kind: 'era' } });
    const unit = 'gRunA-1-3';
    const p = plan({
      c: campaign([E]),
      s: states(
        st(1, 'E', 'processing', { attempt: 1, tries: 1 }),
        st(2, 'E', 'processing', { attempt: 1, tries: 1 }),
        st(3, 'E', 'processing', { attempt: 1, tries: 1 }),
      ),
      r: reg({ 1: 'RunA', 2: 'RunA', 3: 'RunA' }),
      j: jobs(job('E', [1, 2, 3], 1, 'failed', { unit })),
    });
    expect(p.submit).toHaveLength(1);
    expect(p.submit[0]).toMatchObject({
      unit,
      runs: [1, 2, 3],
      attempt: 2,
      tries: 2,
      era: 'RunA',
      fill: 101,
    });
    expect(p.submit[0]?.retryOf).toBe(`rc.c.E.${unit}.a1`);
  });
});

describe('lockHolds', () => {
  it('holds runs ≥ fromRun of the locked workflow only', () => {
    const locks = [lock('W', 100), lock('X', 1, false)];
    expect(lockHolds(locks, 'W', 99)).toBeUndefined();
    expect(lockHolds(locks, 'W', 100)).toBe(locks[0]);
    expect(lockHolds(locks, 'W', 5000)).toBe(locks[0]);
    expect(lockHolds(locks, 'V', 5000)).toBeUndefined();
    // an unlock point (locked false) holds nothing
    expect(lockHolds(locks, 'X', 5000)).toBeUndefined();
  });
});

describe('planPass: locks', () => {
  const W = wf('W');
  const V = wf('V');
  const c = campaign([V, W]);
  const s = states(...[3, 4, 5, 6, 7].flatMap((r) => [st(r, 'W', 'new'), st(r, 'V', 'new')]));

  it('holds runs ≥ fromRun of the locked workflow and counts them as waiting', () => {
    const p = plan({ c, s, l: [lock('W', 5)] });
    expect(p.submit.filter((u) => u.workflow.name === 'W').map((u) => u.runs[0])).toEqual([3, 4]);
    expect(p.submit.filter((u) => u.workflow.name === 'V').map((u) => u.runs[0])).toEqual([3, 4, 5, 6, 7]);
    expect(p.waiting).toEqual({ 'W: held by lock from run 5': 3 });
  });

  it('ignores released locks, and every lock with ignoreLocks', () => {
    expect(plan({ c, s, l: [lock('W', 5, false)] }).submit).toHaveLength(10);
    const p = plan({ c, s, l: [lock('W', 5)], o: { ignoreLocks: true } });
    expect(p.submit).toHaveLength(10);
    expect(p.waiting).toEqual({});
  });

  it('holds the retry of a locked run too, and releases it with the lock', () => {
    const input: Input = {
      c,
      s: states(st(6, 'W', 'processing', { attempt: 1, tries: 1 })),
      j: jobs(job('W', [6], 1, 'failed')),
    };
    const held = plan({ ...input, l: [lock('W', 5)] });
    expect(held.submit).toEqual([]);
    expect(held.finalize).toEqual([]);
    expect(held.waiting).toEqual({ 'W: held by lock from run 5': 1 });
    expect(submitted(plan({ ...input, l: [lock('W', 5, false)] }))).toEqual(['W:r6:a2:t2']);
  });
});

describe('planPass: active workflows', () => {
  const A = wf('A');
  const B = wf('B');

  it('submits only workflows active in a run type', () => {
    const p = plan({ c: campaign([A, B], ['A']), s: states(st(1, 'A', 'new'), st(1, 'B', 'new')) });
    expect(submitted(p)).toEqual(['A:r1:a1:t1']);
    expect(p.waiting).toEqual({});
  });

  it('submits nothing for a deactivated campaign (workflows only suspended)', () => {
    const p = plan({ c: campaign([A, B], [], ['A', 'B']), s: states(st(1, 'A', 'new'), st(1, 'B', 'new')) });
    expect(p.submit).toEqual([]);
  });

  it('reports active workflows that have no definition', () => {
    const p = plan({ c: campaign([A], ['A', 'ghost', 'phantom']), s: states(st(1, 'ghost', 'new')) });
    expect(p.undefinedWorkflows).toEqual(['ghost', 'phantom']);
    expect(submitted(p)).toEqual([]);
  });

  it('still finalises jobs that were in flight when their workflow was deactivated, but retries nothing', () => {
    const p = plan({
      c: campaign([A, B], [], ['A', 'B']),
      s: states(
        st(1, 'A', 'processing', { attempt: 1, tries: 1 }),
        st(2, 'A', 'processing', { attempt: 1, tries: 1 }),
        st(3, 'A', 'processing', { attempt: 3, tries: 3 }),
      ),
      j: jobs(
        job('A', [1], 1, 'done', { outputs: ['o1'] }),
        job('A', [2], 1, 'failed'),
        job('A', [3], 3, 'failed'),
      ),
    });
    expect(p.finalize.map((f) => `${f.run}:${f.status}`)).toEqual(['1:done', '3:failed']);
    expect(p.submit).toEqual([]);
    expect(p.waiting).toEqual({ 'A: inactive, retry waits for reactivation': 1 });
  });
});

describe('planPass: era granularity', () => {
  const D = wf('D', { granularity: { kind: 'era' } });
  const r = reg({ 1: 'RunA', 2: 'RunA', 3: 'RunB', 4: 'RunA' });

  it('submits one unit per era, named after the era and its first and last runs', () => {
    const p = plan({
      c: campaign([D]),
      s: states(st(1, 'D', 'new'), st(2, 'D', 'new'), st(3, 'D', 'new')),
      r,
    });
    expect(p.submit.map((u) => ({ unit: u.unit, runs: u.runs, era: u.era, fill: u.fill }))).toEqual([
      { unit: 'gRunA-1-2', runs: [1, 2], era: 'RunA', fill: 101 },
      { unit: 'gRunB-3-3', runs: [3], era: 'RunB', fill: 103 },
    ]);
    expect(p.submit.every((u) => u.attempt === 1 && u.tries === 1)).toBe(true);
  });

  it('does not submit an era while one of its runs is still waiting (dependency or lock)', () => {
    const A = wf('A');
    const D2 = wf('D', { granularity: { kind: 'era' }, dependsOn: ['A'] });
    const s = states(
      st(1, 'A', 'done', { outputs: ['a1'] }),
      st(2, 'A', 'new'),
      st(3, 'A', 'done', { outputs: ['a3'] }),
      ...[1, 2, 3].map((x) => st(x, 'D', 'new')),
    );
    const p = plan({ c: campaign([A, D2]), s, r });
    expect(submitted(p)).toEqual(['A:r2:a1:t1', 'D:gRunB-3-3:a1:t1']);
    expect(p.submit[1]?.inputs).toEqual({ A: ['a3'] });
    expect(p.waiting).toEqual({ 'D: waiting for A': 1, 'D: era RunA not complete': 1 });

    const locked = plan({
      c: campaign([D]),
      s: states(...[1, 2, 3, 4].map((x) => st(x, 'D', 'new'))),
      r,
      l: [lock('D', 4)],
    });
    expect(submitted(locked)).toEqual(['D:gRunB-3-3:a1:t1']);
    expect(locked.waiting).toEqual({ 'D: held by lock from run 4': 1, 'D: era RunA not complete': 2 });
  });

  it('gathers the inputs of every run of the era, in run order', () => {
    const A = wf('A');
    const D2 = wf('D', { granularity: { kind: 'era' }, dependsOn: ['A'] });
    const p = plan({
      c: campaign([A, D2]),
      s: states(
        st(2, 'A', 'done', { outputs: ['a2'] }),
        st(1, 'A', 'done', { outputs: ['a1', 'a1b'] }),
        st(4, 'A', 'done', { outputs: ['a4'] }),
        st(4, 'D', 'new'),
        st(2, 'D', 'new'),
        st(1, 'D', 'new'),
      ),
      r,
    });
    expect(p.submit.map((u) => [u.unit, u.inputs])).toEqual([
      ['gRunA-1-4', { A: ['a1', 'a1b', 'a2', 'a4'] }],
    ]);
  });

  it('groups runs without registration under "unknown"', () => {
    const p = plan({ c: campaign([D]), s: states(st(9, 'D', 'new')) });
    expect(p.submit.map((u) => [u.unit, u.era])).toEqual([['gunknown-9-9', '']]);
  });

  it('does not let a run repaired to processing block its era', () => {
    // era RunA was submitted as one unit (runs 1, 2); run 2's "processing" point was lost; run 4 came later
    const eraJob = job('D', [1, 2], 1, 'running', { unit: 'gRunA-1-2' });
    const lost = plan({
      c: campaign([D]),
      s: states(st(1, 'D', 'processing', { attempt: 1, tries: 1 }), st(2, 'D', 'new'), st(4, 'D', 'new')),
      r,
      j: jobs(eraJob),
    });
    const intact = plan({
      c: campaign([D]),
      s: states(
        st(1, 'D', 'processing', { attempt: 1, tries: 1 }),
        st(2, 'D', 'processing', { attempt: 1, tries: 1 }),
        st(4, 'D', 'new'),
      ),
      r,
      j: jobs(eraJob),
    });
    expect(lost.finalize.map((f) => [f.run, f.status, f.reason])).toEqual([[2, 'processing', 'repaired']]);
    expect(submitted(lost)).toEqual(submitted(intact));
    expect(submitted(lost)).toEqual(['D:gRunA-4-4:a1:t1']);
    expect(lost.waiting).toEqual({});
  });
});

describe('planPass: every-N granularity', () => {
  const G = wf('G', { granularity: { kind: 'every', n: 3 } });

  it('submits full groups of N in run order and keeps the rest waiting', () => {
    const s = states(...[7, 1, 5, 2, 6, 3, 4].map((r) => st(r, 'G', 'new')));
    const p = plan({ c: campaign([G]), s });
    expect(p.submit.map((u) => [u.unit, u.runs])).toEqual([
      ['gn3-1-3', [1, 2, 3]],
      ['gn3-4-6', [4, 5, 6]],
    ]);
    expect(p.waiting).toEqual({ 'G: group of 3 not full': 1 });
  });

  it('submits nothing below N', () => {
    const p = plan({ c: campaign([G]), s: states(st(1, 'G', 'new'), st(2, 'G', 'new')) });
    expect(p.submit).toEqual([]);
    expect(p.waiting).toEqual({ 'G: group of 3 not full': 2 });
  });
});

describe('planPass: repairs after a crash', () => {
  const W = wf('W');
  const c = campaign([W]);

  it('repairs a run left new whose job intent reached the database, and submits nothing', () => {
    const p = plan({ c, s: states(st(5, 'W', 'new')), j: jobs(job('W', [5], 1, 'idle')) });
    expect(p.finalize).toEqual([
      { run: 5, workflow: 'W', status: 'processing', attempt: 1, tries: 1, reason: 'repaired' },
    ]);
    expect(p.submit).toEqual([]);
  });

  it('repairs a reprocessed run and finalises it in the same plan when its job is already done', () => {
    const p = plan({
      c,
      s: states(st(5, 'W', 'reprocess', { attempt: 1, tries: 0 })),
      j: jobs(job('W', [5], 1, 'done', { outputs: ['old'] }), job('W', [5], 2, 'done', { outputs: ['new'] })),
    });
    expect(p.finalize).toEqual([
      { run: 5, workflow: 'W', status: 'processing', attempt: 2, tries: 1, reason: 'repaired' },
      { run: 5, workflow: 'W', status: 'done', attempt: 2, tries: 1, outputs: ['new'] },
    ]);
    expect(p.submit).toEqual([]);
  });

  it('does not mistake the job of an earlier attempt for an intent', () => {
    const p = plan({
      c,
      s: states(st(5, 'W', 'reprocess', { attempt: 1, tries: 0 })),
      j: jobs(job('W', [5], 1, 'done', { outputs: ['old'] })),
    });
    expect(p.finalize).toEqual([]);
    expect(submitted(p)).toEqual(['W:r5:a2:t1']);
  });

  it("follows a retry whose intent was recorded but not the run's new attempt (no job name reused)", () => {
    const p = plan({
      c,
      s: states(st(5, 'W', 'processing', { attempt: 1, tries: 1 })),
      j: jobs(job('W', [5], 1, 'failed'), job('W', [5], 2, 'done', { outputs: ['o'] })),
    });
    expect(p.finalize).toEqual([
      { run: 5, workflow: 'W', status: 'processing', attempt: 2, tries: 2, reason: 'repaired' },
      { run: 5, workflow: 'W', status: 'done', attempt: 2, tries: 2, outputs: ['o'] },
    ]);
    expect(p.submit).toEqual([]);
  });

  it('resubmits a processing run whose job never reached the database, under a new attempt', () => {
    const none = plan({ c, s: states(st(5, 'W', 'processing', { attempt: 1, tries: 1 })) });
    expect(submitted(none)).toEqual(['W:r5:a2:t2']);
    expect(none.submit[0]?.retryOf).toBeUndefined();
    const older = plan({
      c,
      s: states(st(5, 'W', 'processing', { attempt: 3, tries: 1 })),
      j: jobs(job('W', [5], 2, 'done')),
    });
    expect(submitted(older)).toEqual(['W:r5:a4:t2']);
    expect(older.finalize).toEqual([]);
  });

  it('never reuses a job name across the plans of a whole life cycle', () => {
    // new → a1 fails → retry a2 fails → retry a3 → done → reprocess → a4
    const names = new Set<string>();
    let s = states(st(5, 'W', 'new'));
    let j = new Map<string, JobRecord>();
    const outcome: JobStatus[] = ['failed', 'failed', 'done', 'done'];
    for (let i = 0; i < 4; i++) {
      const p = plan({ c, s, j });
      const u = p.submit[0];
      if (!u) throw new Error(`no unit submitted in round ${i}`);
      const name = `rc.c.W.${u.unit}.a${u.attempt}`;
      expect(names.has(name)).toBe(false);
      names.add(name);
      j = new Map([...j, ...jobs(job('W', u.runs, u.attempt, 'idle'))]);
      s = states(st(5, 'W', 'processing', { attempt: u.attempt, tries: u.tries }));
      j = new Map([...j, ...jobs(job('W', u.runs, u.attempt, outcome[i] ?? 'done'))]);
      const after = plan({ c, s, j });
      const last = after.finalize.at(-1);
      if (outcome[i] === 'done') {
        expect(last?.status).toBe('done');
        s = states(st(5, 'W', 'reprocess', { attempt: u.attempt, tries: 0 }));
      }
    }
    expect([...names]).toEqual(['rc.c.W.r5.a1', 'rc.c.W.r5.a2', 'rc.c.W.r5.a3', 'rc.c.W.r5.a4']);
  });
});

describe('planPass: submit cap', () => {
  it('caps the units submitted per workflow and counts the rest', () => {
    const c = campaign([wf('V'), wf('W')]);
    const s = states(...[1, 2, 3, 4, 5].flatMap((r) => [st(r, 'V', 'new'), st(r, 'W', 'new')]));
    const p = plan({ c, s, o: { maxSubmitPerWorkflow: 2 } });
    expect(submitted(p)).toEqual(['V:r1:a1:t1', 'V:r2:a1:t1', 'W:r1:a1:t1', 'W:r2:a1:t1']);
    expect(p.waiting).toEqual({ 'V: submit cap': 3, 'W: submit cap': 3 });
  });

  it('puts retries first under the cap', () => {
    const p = plan({
      c: campaign([wf('W')]),
      s: states(st(1, 'W', 'new'), st(2, 'W', 'new'), st(9, 'W', 'processing', { attempt: 1, tries: 1 })),
      j: jobs(job('W', [9], 1, 'failed')),
      o: { maxSubmitPerWorkflow: 1 },
    });
    expect(submitted(p)).toEqual(['W:r9:a2:t2']);
    expect(p.waiting).toEqual({ 'W: submit cap': 2 });
  });
});

describe('latestJobs', () => {
  it('keeps the highest attempt per run × workflow, for every run of a group job', () => {
    const a1 = job('W', [1, 2], 1, 'failed', { unit: 'g-1-2' });
    const a2 = job('W', [1, 2], 2, 'running', { unit: 'g-1-2' });
    const other = job('V', [1], 5, 'done');
    const m = latestJobs([a2, other, a1]);
    expect(m.get(stateKey(1, 'W'))).toBe(a2);
    expect(m.get(stateKey(2, 'W'))).toBe(a2);
    expect(m.get(stateKey(1, 'V'))).toBe(other);
    expect(m.size).toBe(3);
  });
});
