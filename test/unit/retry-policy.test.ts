/**
 * The retry policy (src/domain/retry.ts): the campaign file's `retry` block, the resources of each attempt,
 * node retries outside max_retries, and how the planner and `why` apply it.
 */
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import { planPass } from '../../src/domain/planner.js';
import { decideRetry, type FailureClass } from '../../src/domain/retry.js';
import { stateKey, type RunState } from '../../src/domain/state.js';
import { explainRun } from '../../src/domain/why.js';
import { parseWorkflow, type WorkflowSpec } from '../../src/domain/workflow.js';
import { LazyMap } from '../../src/domain/lazy-map.js';
import type { RegisteredRun } from '../../src/domain/state.js';
import { StateTable } from '../../src/domain/state-table.js';
import { UserError } from '../../src/errors.js';
import { isMalformed } from '../../src/store/malformed.js';
import { decodeJob, jobPoint, type Row } from '../../src/store/schema.js';
import { decodeChunks, encodeChunks } from '../../src/store/snapshot.js';

const BLOCK = {
  on: ['oom', 'timeout', 'node'],
  memory_factor: 2,
  walltime_factor: 2,
  max_memory_mb: 1600,
  max_walltime_min: 0.2,
};

/** A workflow with memory_mb 500, walltime_min 0.05, max_retries 1 and `retry` ('none': no block). */
function spec(retry: unknown = BLOCK): WorkflowSpec {
  return parseWorkflow(
    'reco',
    {
      command: 'x',
      resources: { memory_mb: 500, walltime_min: 0.05 },
      max_retries: 1,
      ...(retry === 'none' ? {} : { retry }),
    },
    'c.json',
  );
}

function failed(attempt: number, cls: FailureClass, over: Partial<JobRecord> = {}): JobRecord {
  return {
    campaign: 'c',
    workflow: 'reco',
    name: `rc.c.reco.r1.a${attempt}`,
    unit: 'r1',
    runs: [1],
    attempt,
    status: 'failed',
    backend: 'local',
    nativeId: `n${attempt}`,
    stdout: '',
    stderr: '',
    exitCodeFile: '',
    outputFile: '',
    exitCode: 1,
    outputs: [],
    reason: 'killed',
    submittedAt: 1,
    unknownSince: 0,
    heldSince: 0,
    time: 2,
    failureClass: cls,
    ...over,
  };
}

const processing = (attempt: number, tries: number): RunState => ({
  run: 1,
  workflow: 'reco',
  status: 'processing',
  attempt,
  tries,
  outputs: [],
  reason: '',
  time: 1,
});

function campaign(s: WorkflowSpec): Campaign {
  return {
    name: 'c',
    description: '',
    createdAt: 1,
    rtypes: [{ name: 'all', filter: {}, workflows: ['reco'], suspended: [] }],
    workflows: [s],
  };
}

function planOf(s: WorkflowSpec, j: JobRecord, tries: number): ReturnType<typeof planPass> {
  const states = new Map([[stateKey(1, 'reco'), processing(j.attempt, tries)]]);
  return planPass(campaign(s), states, new Map(), new Map([[j.name, j]]), []);
}

describe('the retry block of a campaign file', () => {
  it('is parsed with defaults (all three classes, ×2, 3 node retries)', () => {
    expect(spec({}).retry).toEqual({
      on: ['oom', 'timeout', 'node'],
      memoryFactor: 2,
      walltimeFactor: 2,
      maxNodeRetries: 3,
    });
    expect(spec().retry).toMatchObject({ maxMemoryMb: 1600, maxWalltimeMin: 0.2 });
    expect(spec('none').retry).toBeUndefined();
  });

  it.each([
    [[], /'retry' must be an object/],
    [
      { on: ['app'] },
      /'on' must be a list of failure classes from oom, timeout, node \(not app: app failures always follow max_retries\)/,
    ],
    [{ on: 'oom' }, /'on' must be a list/],
    [{ memory_factor: 0.5 }, /'memory_factor' must be a number from 1 to 100/],
    [{ max_memory_mb: 100 }, /'max_memory_mb' 100 is below the workflow's memory_mb 500/],
    [{ max_walltime_min: -1 }, /'max_walltime_min' must be a positive number/],
    [{ max_node_retries: 11 }, /'max_node_retries' must be an integer from 0 to 10/],
    [{ tries: 3 }, /unknown key 'tries' \(known: on, memory_factor/],
  ])('rejects %j with one clear line', (block, msg) => {
    let err: unknown;
    try {
      spec(block);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect(String((err as Error).message)).toMatch(/^c\.json: workflow 'reco': 'retry'/);
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message).not.toContain('\n');
  });

  it('accepts a block whose resource the workflow does not set (nothing to grow: retried as it is)', () => {
    const w = parseWorkflow('w', { command: 'x', retry: { memory_factor: 3 } }, 'f');
    expect(decideRetry(w, failed(1, 'oom'), 1).text).toContain('(no memory_mb to grow)');
  });

  it('takes fractional walltimes (0.05 = 3 s)', () => {
    expect(spec().resources.walltimeMin).toBe(0.05);
  });
});

describe('decideRetry', () => {
  it('doubles memory after oom and wall time after timeout, up to the caps', () => {
    const s = spec();
    const oom = decideRetry(s, failed(2, 'oom', { memoryMb: 500 }), 1);
    expect(oom).toMatchObject({ retry: true, free: false, resources: { memoryMb: 1000, walltimeMin: 0.05 } });
    expect(oom.text).toBe('attempt 2 ran out of memory at 500 MB: attempt 3 asks 1000 MB (try 2 of 2)');
    expect(decideRetry(s, failed(3, 'oom', { memoryMb: 1000 }), 1).resources.memoryMb).toBe(1600);
    const capped = decideRetry(s, failed(4, 'oom', { memoryMb: 1600 }), 1);
    expect(capped.resources.memoryMb).toBe(1600);
    expect(capped.text).toContain('asks the same 1600 MB (max_memory_mb)');
    const to = decideRetry(s, failed(1, 'timeout'), 1);
    expect(to.resources).toEqual({ memoryMb: 500, walltimeMin: 0.1 });
    expect(to.text).toBe('attempt 1 ran out of time at 3 s: attempt 2 asks 6 s (try 2 of 2)');
    expect(decideRetry(s, failed(2, 'timeout', { walltimeMin: 0.1 }), 1).resources.walltimeMin).toBe(0.2);
  });

  it('counts oom, timeout and app against max_retries; node failures not, at most max_node_retries in a row', () => {
    const s = spec();
    expect(decideRetry(s, failed(2, 'oom'), 2).retry).toBe(false);
    expect(decideRetry(s, failed(2, 'app'), 2).retry).toBe(false);
    const n1 = decideRetry(s, failed(2, 'node'), 2);
    expect(n1).toMatchObject({ retry: true, free: true, nodeRetries: 1 });
    expect(n1.text).toContain(
      'attempt 2 lost its node: attempt 3 runs again, not counted against max_retries (node retry 1 of 3)',
    );
    expect(decideRetry(s, failed(5, 'node', { nodeRetries: 3 }), 2).retry).toBe(false);
    expect(decideRetry(s, failed(5, 'node', { nodeRetries: 3 }), 1)).toMatchObject({
      retry: true,
      free: false,
    });
  });

  it('without a policy (or a class not in `on`) retries with the same resources, as before', () => {
    const plain = spec('none');
    expect(decideRetry(plain, failed(1, 'oom'), 1)).toMatchObject({
      retry: true,
      resources: { memoryMb: 500 },
    });
    expect(decideRetry(plain, failed(1, 'node'), 2).retry).toBe(false);
    const onlyTime = spec({ on: ['timeout'] });
    expect(decideRetry(onlyTime, failed(1, 'oom'), 1).resources.memoryMb).toBe(500);
  });
});

describe('the planner and why under a policy', () => {
  it('plans the retry with the grown resources; a node retry keeps the tries', () => {
    const s = spec();
    const p = planOf(s, failed(2, 'oom', { memoryMb: 500 }), 1);
    expect(p.submit).toHaveLength(1);
    expect(p.submit[0]).toMatchObject({
      attempt: 3,
      tries: 2,
      resources: { memoryMb: 1000, walltimeMin: 0.05 },
      retryOf: 'rc.c.reco.r1.a2',
    });
    const n = planOf(s, failed(2, 'node'), 2);
    expect(n.submit[0]).toMatchObject({ attempt: 3, tries: 2, nodeRetries: 1 });
    expect(n.finalize.filter((f) => f.status === 'failed')).toEqual([]);
  });

  it('fails for good with the class in the reason once max_retries is spent', () => {
    const p = planOf(spec(), failed(2, 'timeout', { reason: 'TIMEOUT' }), 2);
    expect(p.submit).toEqual([]);
    expect(p.failedForGood[0]?.reason).toBe('attempt 2 failed (timeout): TIMEOUT (2 tries, max_retries 1)');
  });

  it('why says what ran out and what the next attempt asks', () => {
    const s = spec();
    const j = failed(2, 'oom', { memoryMb: 500 });
    const a = explainRun(
      {
        campaign: campaign(s),
        states: new Map([[stateKey(1, 'reco'), processing(2, 1)]]),
        registered: new Map(),
        jobs: new Map([[j.name, j]]),
        locks: [],
      },
      1,
      'reco',
    ).answers[0];
    expect(a?.kind).toBe('retry-pending');
    expect(a?.text).toMatch(/^attempt 2 ran out of memory at 500 MB: attempt 3 asks 1000 MB/);
    expect(a?.job).toMatchObject({ failureClass: 'oom', memoryMb: 500 });
  });
});

describe('the job fields of failure classes and attempts (store schema, snapshots)', () => {
  const row = (j: JobRecord): Row => {
    const p = jobPoint(j);
    const out: Row = { ...p.tags, time: j.time };
    for (const [k, v] of Object.entries(p.fields))
      out[k] = typeof v === 'object' && v !== null && 'int' in v ? v.int : (v as Row[string]);
    return out;
  };

  const decoded = (r: Row): JobRecord => {
    const v = decodeJob(r);
    if (isMalformed(v)) throw new Error(v.why);
    return v;
  };

  it('round-trips class, resources and node retries; an old failed point decodes as class unknown', () => {
    const j = failed(3, 'oom', { memoryMb: 1000, walltimeMin: 0.1, nodeRetries: 1 });
    expect(decodeJob(row(j))).toEqual(j);
    const old = row(failed(1, 'app'));
    delete old.failure_class;
    expect(decoded(old).failureClass).toBe('unknown');
    expect(decoded(old).memoryMb).toBeUndefined();
    const done = row({ ...failed(1, 'app'), status: 'done', failureClass: undefined });
    expect(decoded(done).failureClass).toBeUndefined();
  });

  it('keeps them through a snapshot; records written before them decode as before (failed → unknown)', () => {
    const j = failed(3, 'timeout', { memoryMb: 1000, walltimeMin: 0.1 });
    const plain: JobRecord = { ...failed(1, 'app'), name: 'rc.c.reco.r2.a1', runs: [2], unit: 'r2' };
    delete plain.failureClass;
    const st = {
      states: new StateTable(),
      registered: new LazyMap<number, RegisteredRun>(),
      jobs: new Map([
        [j.name, j],
        [plain.name, plain],
      ]),
    };
    const back = decodeChunks(encodeChunks(st));
    expect(back.jobs.get(j.name)).toEqual(j);
    expect(back.jobs.get(plain.name)?.failureClass).toBe('unknown');
    expect(back.jobs.get(plain.name)).not.toHaveProperty('memoryMb');
  });
});
