/** A job record after the backend's answer (`applyNativeState`): transitions, hold timeout, lost jobs. */
import { describe, expect, it } from 'vitest';
import { applyNativeState } from '../../src/automation/pass.js';
import type { JobState } from '../../src/backends/types.js';
import type { JobRecord } from '../../src/domain/jobs.js';

const HOLD = 60_000;
const LOST = 300_000;
const opts = { holdTimeoutMs: HOLD, lostAfterMs: LOST };
const T0 = 1_700_000_000_000;

function job(over: Partial<JobRecord> = {}): JobRecord {
  return {
    campaign: 'c',
    workflow: 'W',
    name: 'rc.c.W.r1.a1',
    unit: 'r1',
    runs: [1],
    attempt: 1,
    status: 'idle',
    backend: 'slurm',
    nativeId: '4242',
    stdout: '/j/stdout',
    stderr: '/j/stderr',
    exitCodeFile: '/j/exit_code',
    outputFile: '/j/outputs',
    exitCode: null,
    outputs: [],
    reason: '',
    submittedAt: T0,
    unknownSince: 0,
    heldSince: 0,
    time: T0,
    ...over,
  };
}

const apply = (j: JobRecord, st: JobState, now = T0 + 1_000): ReturnType<typeof applyNativeState> =>
  applyNativeState(j, st, now, opts);

describe('applyNativeState', () => {
  it('pending: no point for a job already idle; back to idle otherwise, clearing unknown/held marks', () => {
    expect(apply(job(), { state: 'pending' })).toEqual({});
    expect(apply(job({ status: 'running' }), { state: 'pending' }).next).toMatchObject({
      status: 'idle',
      time: T0 + 1_000,
    });
    expect(apply(job({ unknownSince: T0 }), { state: 'pending' }).next).toMatchObject({
      status: 'idle',
      unknownSince: 0,
    });
    expect(apply(job({ heldSince: T0 }), { state: 'pending' }).next).toMatchObject({
      status: 'idle',
      heldSince: 0,
    });
  });

  it('running: one point on the transition, none while it keeps running', () => {
    const r = apply(job(), { state: 'running' });
    expect(r.next).toEqual({ ...job(), status: 'running', time: T0 + 1_000 });
    expect(r.cancel).toBeUndefined();
    expect(apply(job({ status: 'running' }), { state: 'running' })).toEqual({});
    expect(apply(job({ status: 'running', heldSince: T0 }), { state: 'running' }).next).toMatchObject({
      status: 'running',
      heldSince: 0,
    });
  });

  it('held: marks the hold once, keeps the job in flight, then cancels and fails it after the timeout', () => {
    const first = apply(job(), { state: 'held', reason: 'quota exceeded' }, T0 + 1_000);
    expect(first.cancel).toBeUndefined();
    expect(first.next).toMatchObject({
      status: 'idle',
      heldSince: T0 + 1_000,
      reason: 'held: quota exceeded',
    });
    const held = first.next ?? job();
    expect(apply(held, { state: 'held', reason: 'quota exceeded' }, T0 + 1_000 + HOLD)).toEqual({});
    const timedOut = apply(held, { state: 'held', reason: 'quota exceeded' }, T0 + 1_001 + HOLD);
    expect(timedOut.cancel).toBe(true);
    expect(timedOut.next).toMatchObject({
      status: 'failed',
      reason: 'held for over 60 s: quota exceeded',
      time: T0 + 1_001 + HOLD,
    });
    // a running job that is suspended stays running while held
    expect(apply(job({ status: 'running' }), { state: 'held' }).next).toMatchObject({
      status: 'running',
      reason: 'held: ',
    });
  });

  it('done: records the exit code (0 when the backend gives none) and clears the reason', () => {
    expect(apply(job({ status: 'running', reason: 'held: x' }), { state: 'done' }).next).toMatchObject({
      status: 'done',
      exitCode: 0,
      reason: '',
    });
    expect(apply(job(), { state: 'done', exitCode: 0 }).next?.status).toBe('done');
  });

  it('failed and cancelled: failed with the exit code and a reason', () => {
    expect(apply(job({ status: 'running' }), { state: 'failed', exitCode: 3 }).next).toMatchObject({
      status: 'failed',
      exitCode: 3,
      reason: 'exit code 3',
    });
    expect(apply(job(), { state: 'failed', exitCode: 1, reason: 'OUT_OF_MEMORY' }).next).toMatchObject({
      status: 'failed',
      reason: 'OUT_OF_MEMORY',
    });
    expect(apply(job(), { state: 'failed' }).next).toMatchObject({ exitCode: null, reason: 'exit code ?' });
    expect(apply(job(), { state: 'cancelled', reason: 'by root' }).next).toMatchObject({
      status: 'failed',
      reason: 'cancelled: by root',
    });
    expect(apply(job(), { state: 'cancelled' }).next?.reason).toBe('cancelled');
    expect(apply(job(), { state: 'cancelled' }).cancel).toBeUndefined();
  });

  it('unknown: noted once, then the job is lost (failed) only after the grace period', () => {
    const first = apply(job({ status: 'running' }), { state: 'unknown' }, T0 + 1_000);
    expect(first.next).toMatchObject({ status: 'running', unknownSince: T0 + 1_000 });
    const seen = first.next ?? job();
    expect(apply(seen, { state: 'unknown' }, T0 + 1_000 + LOST)).toEqual({});
    const lost = apply(seen, { state: 'unknown' }, T0 + 1_001 + LOST);
    expect(lost.next?.status).toBe('failed');
    expect(lost.next?.reason).toMatch(/^lost: not in the queue, no accounting record and no exit-code file/);
    expect(lost.cancel).toBeUndefined();
    // it comes back: the mark is cleared and the grace starts afresh next time
    expect(apply(seen, { state: 'running' }, T0 + 2_000).next).toMatchObject({
      status: 'running',
      unknownSince: 0,
    });
  });

  it('never changes the record it is given', () => {
    const j = job({ status: 'running', heldSince: T0 });
    const copy = structuredClone(j);
    for (const state of ['pending', 'running', 'held', 'done', 'failed', 'cancelled', 'unknown'] as const)
      apply(j, { state }, T0 + 10 * HOLD);
    expect(j).toEqual(copy);
  });
});
