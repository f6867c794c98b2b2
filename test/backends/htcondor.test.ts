/**
 * HTCondor backend against fake condor_* commands replaying recorded output (test/fakes, test/fixtures/htcondor):
 * the shared conformance suite plus HTCondor-specific error cases.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors.js';
import { HTCondorBackend, type HTCondorBackendOptions } from '../../src/backends/htcondor.js';
import type { JobSpec, JobState, Submitted, TrackedJob } from '../../src/backends/types.js';
import { backendConformance, makeJob, track, waitFor } from './conformance.js';
import { FakeBatch } from './batch-fakes.js';

const fakes: FakeBatch[] = [];

function setup(
  label: string,
  opts: Partial<HTCondorBackendOptions> = {},
  behavior: Record<string, unknown> = {},
): { fb: FakeBatch; backend: HTCondorBackend } {
  const fb = new FakeBatch(label, behavior);
  fakes.push(fb);
  const backend = new HTCondorBackend({ stateDir: fb.stateDir, env: fb.env, ...opts });
  return { fb, backend };
}

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.cleanup()));
});

backendConformance(
  'htcondor',
  async () => {
    const { fb, backend } = setup('condor-conf');
    return { backend, workRoot: fb.workRoot };
  },
  { timeoutMs: 20_000, pollMs: 100, unknownId: 'local#999999.0', resources: { cpus: 1, memoryMb: 512 } },
);

let n = 0;
const nm = (k: string): string => `rc.condor.t.${k}.${++n}.a1`;

function tracked(jobs: JobSpec[], subs: Submitted[]): TrackedJob[] {
  const byName = new Map(subs.map((s) => [s.name, s]));
  return jobs.map((j) => track(j, byName.get(j.name) as Submitted));
}

describe('HTCondor backend specifics', () => {
  let ctx: { fb: FakeBatch; backend: HTCondorBackend } | undefined;
  afterEach(() => ctx?.fb.killAll());

  it('one cluster per resource group: ids keep the schedd, one condor_submit per group, resources in the file', async () => {
    ctx = setup('condor-groups', { schedd: 'sched01.example.org', walltimeAttribute: 'MaxRuntime' });
    const { fb, backend } = ctx;
    const res = {
      cpus: 2,
      memoryMb: 3000,
      walltimeMin: 90,
      queue: 'group_reco',
      extra: ['+AccountingGroupUser = "alice"'],
    };
    const same = [0, 1, 2, 3].map((i) => makeJob(fb.workRoot, nm(`g${i}`), `echo g${i}`, { resources: res }));
    const other = makeJob(fb.workRoot, nm('other'), 'echo other', { resources: { cpus: 8 } });
    const r = await backend.submit([...same, other]);
    expect(r.deferred).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(fb.calls('condor_submit')).toHaveLength(2);
    const ids = r.submitted.filter((s) => s.name !== other.name).map((s) => s.id);
    expect(ids).toHaveLength(4);
    const clusters = new Set(ids.map((id) => id.replace(/\.\d+$/, '')));
    expect(clusters.size).toBe(1);
    for (const id of ids) expect(id).toMatch(/^sched01\.example\.org#\d+\.[0-3]$/);

    const call = fb.calls('condor_submit')[0];
    expect(call?.args.slice(0, 3)).toEqual(['-terse', '-name', 'sched01.example.org']);
    const sub = readFileSync(call?.args[call.args.length - 1] as string, 'utf8');
    expect(sub).toContain('request_cpus = 2\n');
    expect(sub).toContain('request_memory = 3000\n');
    expect(sub).toContain('+MaxRuntime = 5400\n');
    expect(sub).toContain('accounting_group = group_reco\n');
    expect(sub).toContain('+AccountingGroupUser = "alice"\n');
    expect(sub).toContain('executable = job_$(runctrl_idx).sh\n');
    expect(sub).toMatch(/queue runctrl_idx,runctrl_name from items\.txt\n$/);

    const t = tracked([...same, other], r.submitted);
    const st = await waitFor(backend, t, (s) => s.state === 'done', 15_000, 200);
    expect([...st.values()].every((s) => s.state === 'done')).toBe(true);
    expect(readFileSync(same[2]?.stdout as string, 'utf8')).toContain('g2');
  });

  it('JobFlavour instead of MaxRuntime; names unfit for itemdata go alone with a quoted literal', async () => {
    ctx = setup('condor-flavour', { walltimeAttribute: 'JobFlavour' });
    const { fb, backend } = ctx;
    const odd = makeJob(fb.workRoot, 'odd', 'true', { resources: { walltimeMin: 100 } });
    odd.name = 'rc.odd "name" with spaces.a1';
    const r = await backend.submit([odd]);
    expect(r.submitted).toHaveLength(1);
    const call = fb.calls('condor_submit')[0];
    const sub = readFileSync(call?.args[call.args.length - 1] as string, 'utf8');
    expect(sub).toContain('+JobFlavour = "longlunch"\n');
    expect(sub).toContain('+RunctrlName = "rc.odd \\"name\\" with spaces.a1"\n');
    expect(sub).toMatch(/queue 1\n$/);
    const found = await backend.find([odd.name]);
    expect(found).toEqual([{ name: odd.name, id: r.submitted[0]?.id }]);
  });

  it('schedd unreachable / submit limit: deferred, and the rest of the pass is not tried', async () => {
    ctx = setup('condor-defer');
    const { fb, backend } = ctx;
    fb.inject('condor_submit', { stderrFile: 'htcondor/condor_submit-no-schedd.stderr.txt', code: 1 });
    const a = makeJob(fb.workRoot, nm('a'), 'true');
    const b = makeJob(fb.workRoot, nm('b'), 'true', { resources: { cpus: 4 } });
    const r = await backend.submit([a, b]);
    expect(r.submitted).toEqual([]);
    expect(r.rejected).toEqual([]);
    expect(r.deferred.map((d) => d.name).sort()).toEqual([a.name, b.name].sort());
    expect(r.deferred[0]?.reason).toContain("Can't find address of local schedd");
    expect(fb.calls('condor_submit')).toHaveLength(1);

    fb.inject('condor_submit', { stderrFile: 'htcondor/condor_submit-max-jobs.stderr.txt', code: 1 });
    const r2 = await backend.submit([a]);
    expect(r2.deferred[0]?.reason).toContain('MAX_JOBS_PER_OWNER');

    fb.inject('condor_submit', { stderrFile: 'htcondor/condor_submit-queue-manager.stderr.txt', code: 1 });
    expect((await backend.submit([a])).deferred).toHaveLength(1);
  });

  it('an invalid submission is rejected', async () => {
    ctx = setup('condor-reject');
    const { fb, backend } = ctx;
    fb.inject('condor_submit', {
      stderrFile: 'htcondor/condor_submit-missing-executable.stderr.txt',
      code: 1,
    });
    const a = makeJob(fb.workRoot, nm('a'), 'true');
    const r = await backend.submit([a]);
    expect(r.rejected).toEqual([
      { name: a.name, reason: expect.stringContaining('does not exist') as string },
    ]);
  });

  it('"Failed to fetch ads" and a failing condor_q throw TransientError (never a job state)', async () => {
    ctx = setup('condor-fetch');
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'true');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    fb.inject('condor_q', { stderrFile: 'htcondor/condor_q-failed-fetch.stderr.txt', code: 1 });
    await expect(backend.status(t)).rejects.toBeInstanceOf(TransientError);
    fb.inject('condor_q', { stdoutFile: 'htcondor/condor_q-failed-fetch.stderr.txt', code: 0 });
    await expect(backend.status(t)).rejects.toThrow(/Failed to fetch ads/);
    fb.inject('condor_q', { stderr: 'ERROR: garbage', code: 2 });
    await expect(backend.inFlight()).rejects.toBeInstanceOf(TransientError);
    const ok = await waitFor(backend, t, (s) => s.state === 'done', 10_000, 200);
    expect(ok.get(t[0]?.id as string)?.state).toBe('done');
  });

  it('empty condor_q output = no jobs: condor_history, then the exit-code file, else unknown', async () => {
    ctx = setup('condor-empty');
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'exit 3');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'failed', 10_000, 200);

    fb.patchBehavior({ condorQEmpty: true });
    const before = fb.calls().length;
    let st = await backend.status(t);
    expect(st.get(t[0]?.id as string)).toEqual({
      state: 'failed',
      exitCode: 3,
      reason: 'exit code 3',
      failureClass: 'app',
    });
    const calls = fb.calls().slice(before);
    expect(calls.map((c) => c.cmd)).toEqual(['condor_q', 'condor_history']);
    expect(calls[1]?.args).toContain('-limit');

    fb.patchBehavior({ condorHistoryEmpty: true });
    st = await backend.status(t);
    expect(st.get(t[0]?.id as string)).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(st.get(t[0]?.id as string)?.reason).toContain('exit-code file');

    writeFileSync(a.exitCodeFile, 'garbage');
    st = await backend.status(t);
    expect(st.get(t[0]?.id as string)?.state).toBe('unknown');
  });

  it('held jobs: HoldReason surfaced; removed with condor_rm and failed once held longer than holdTimeoutMs', async () => {
    ctx = setup('condor-held', { holdTimeoutMs: 30_000 });
    const { fb, backend } = ctx;
    fb.patchBehavior({
      holdOnSubmit: { reason: 'via condor_hold (by user mgower)', code: 1, subCode: 0, agoMs: 0 },
    });
    const fresh = makeJob(fb.workRoot, nm('fresh'), 'true');
    const rFresh = await backend.submit([fresh]);
    fb.patchBehavior({
      holdOnSubmit: {
        reason: 'Error from slot1@wn01: Job has gone over memory limit of 2048 megabytes.',
        code: 34,
        agoMs: 0, // held just now: a memory hold is not waited out
      },
    });
    const old = makeJob(fb.workRoot, nm('old'), 'true');
    const rOld = await backend.submit([old]);
    fb.patchBehavior({ holdOnSubmit: undefined });
    const t = [...tracked([fresh], rFresh.submitted), ...tracked([old], rOld.submitted)];
    const [tf, to] = t as [TrackedJob, TrackedJob];

    const st = await backend.status(t);
    expect(st.get(tf.id)).toEqual({
      state: 'held',
      reason: 'via condor_hold (by user mgower) (HoldReasonCode 1)',
    });
    const failed = st.get(to.id) as JobState;
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('Job has gone over memory limit');
    expect(failed.reason).toContain('removed');
    // held for its memory (HoldReasonCode 34): failed at once as oom, not after the hold timeout
    expect(failed.failureClass).toBe('oom');
    const rm = fb.calls('condor_rm');
    expect(rm).toHaveLength(1);
    expect(rm[0]?.args).toEqual([to.id.replace(/^local#/, '')]);

    // Reported failed from now on, also by a fresh backend (the removal is remembered in the state dir).
    const again = new HTCondorBackend({ stateDir: fb.stateDir, env: fb.env, holdTimeoutMs: 30_000 });
    expect((await again.status([to])).get(to.id)).toMatchObject({ state: 'failed', failureClass: 'oom' });

    // The fresh hold times out too, once the clock has moved past the limit.
    const later = await new HTCondorBackend({
      stateDir: fb.stateDir,
      env: fb.env,
      holdTimeoutMs: 30_000,
      now: () => Date.now() + 31_000,
    }).status([tf]);
    expect(later.get(tf.id)?.state).toBe('failed');
    expect(later.get(tf.id)?.reason).toContain('via condor_hold');
    expect(fb.calls('condor_rm')).toHaveLength(2);
  });

  it('JobStatus 6 (transferring output) and 7 (suspended) are running, not failed', async () => {
    ctx = setup('condor-transfer');
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'sleep 30');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'running', 10_000, 100);
    const key = `condor-${(t[0]?.id as string).replace(/^local#/, '')}`;
    fb.updateJob(key, (j) => {
      j.override = { ad: { JobStatus: 6 } };
    });
    expect((await backend.status(t)).get(t[0]?.id as string)).toEqual({
      state: 'running',
      reason: 'transferring output',
    });
    fb.updateJob(key, (j) => {
      j.override = { ad: { JobStatus: 7 } };
    });
    expect((await backend.status(t)).get(t[0]?.id as string)).toEqual({
      state: 'running',
      reason: 'suspended',
    });
    fb.updateJob(key, (j) => {
      j.override = {};
    });
    await backend.cancel(t.map((x) => x.id));
    const end = await waitFor(backend, t, (s) => s.state === 'cancelled', 10_000, 200);
    expect(end.get(t[0]?.id as string)?.reason).toContain('via condor_rm');
  });

  it('one condor_q per status call for many jobs; cancel of finished/unknown ids is not an error', async () => {
    ctx = setup('condor-bulk');
    const { fb, backend } = ctx;
    const jobs = [0, 1, 2, 3, 4, 5].map((i) => makeJob(fb.workRoot, nm(`b${i}`), 'true'));
    const r = await backend.submit(jobs);
    const t = tracked(jobs, r.submitted);
    await waitFor(backend, t, (s) => s.state === 'done', 10_000, 200);
    const before = fb.calls('condor_q').length;
    await backend.status(t);
    expect(fb.calls('condor_q').length - before).toBe(1);
    await backend.cancel([...t.map((x) => x.id), 'local#424242.0', 'not-an-id']);
    fb.inject('condor_rm', { stderr: '\nERROR: Failed to connect to local queue manager\n', code: 1 });
    await expect(backend.cancel([t[0]?.id as string])).rejects.toBeInstanceOf(TransientError);
  });
});

describe('HTCondor priorities', () => {
  it('priority = N in the submit description; one cluster per priority', async () => {
    const { fb, backend } = setup('condor-prio');
    const job = (k: string, value: number): JobSpec =>
      makeJob(fb.workRoot, nm(k), 'true', { priority: { value, top: 7 } });
    const r = await backend.submit([job('hi1', 7), job('hi2', 7), job('mid', 0), job('lo', -3)]);
    expect(r.rejected).toEqual([]);
    const subs = fb
      .calls('condor_submit')
      .map((c) => readFileSync(c.args[c.args.length - 1] as string, 'utf8'));
    expect(subs).toHaveLength(3);
    expect(subs.map((s) => /^priority = (-?\d+)$/m.exec(s)?.[1])).toEqual(['7', undefined, '-3']);
    expect(subs[0]).toContain('queue runctrl_idx,runctrl_name from items.txt');
    fb.killAll();
  });
});
