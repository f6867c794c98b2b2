/**
 * LSF backend against fake bsub/bjobs/bkill replaying recorded output (test/fakes, test/fixtures/lsf):
 * the shared conformance suite plus LSF-specific cases.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../src/errors.js';
import { LsfBackend, type LsfBackendOptions } from '../../src/backends/lsf.js';
import type { JobSpec, Submitted, TrackedJob } from '../../src/backends/types.js';
import { backendConformance, makeJob, track, waitFor } from './conformance.js';
import { FakeBatch } from './batch-fakes.js';

const fakes: FakeBatch[] = [];

function setup(
  label: string,
  opts: Partial<LsfBackendOptions> = {},
  behavior: Record<string, unknown> = {},
): { fb: FakeBatch; backend: LsfBackend } {
  const fb = new FakeBatch(label, behavior);
  fakes.push(fb);
  const backend = new LsfBackend({ stateDir: fb.stateDir, env: fb.env, ...opts });
  return { fb, backend };
}

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.cleanup()));
});

backendConformance(
  'lsf',
  async () => {
    const { fb, backend } = setup('lsf-conf', { queue: 'normal' });
    return { backend, workRoot: fb.workRoot };
  },
  { timeoutMs: 20_000, pollMs: 100, unknownId: '999999', resources: { cpus: 1 } },
);

let n = 0;
const nm = (k: string): string => `rc.lsf.t.${k}.${++n}.a1`;

function tracked(jobs: JobSpec[], subs: Submitted[]): TrackedJob[] {
  const byName = new Map(subs.map((s) => [s.name, s]));
  return jobs.map((j) => track(j, byName.get(j.name) as Submitted));
}

describe('LSF backend specifics', () => {
  let ctx: { fb: FakeBatch; backend: LsfBackend } | undefined;
  afterEach(() => ctx?.fb.killAll());

  it('jobs with equal resources go out as ONE bsub array with per-index scripts; ids 123[i]', async () => {
    ctx = setup('lsf-array');
    const { fb, backend } = ctx;
    const res = {
      cpus: 4,
      memoryMb: 2048,
      walltimeMin: 30,
      queue: 'long',
      account: 'belle',
      extra: ['-R "span[hosts=1]"'],
    };
    const jobs = [0, 1, 2, 3, 4].map((i) =>
      makeJob(fb.workRoot, nm(`a${i}`), i === 3 ? 'echo three; exit 3' : `echo idx-${i}`, { resources: res }),
    );
    const single = makeJob(fb.workRoot, nm('single'), 'echo single', { resources: { cpus: 1 } });
    const r = await backend.submit([...jobs, single]);
    expect(r.deferred).toEqual([]);
    expect(r.rejected).toEqual([]);
    const bsubs = fb.calls('bsub');
    expect(bsubs).toHaveLength(2);
    const arrayCall = bsubs.find((c) => (c.args[1] ?? '').endsWith('[1-5]'));
    expect(arrayCall?.args.slice(0, 2)).toEqual([
      '-J',
      expect.stringMatching(/^rcarr\.[0-9a-f]{12}\[1-5\]$/) as string,
    ]);
    expect(arrayCall?.args).toEqual(
      expect.arrayContaining([
        '-q',
        'long',
        '-n',
        '4',
        '-M',
        '2048MB',
        '-W',
        '30',
        '-P',
        'belle',
      ]) as string[],
    );
    const byName = new Map(r.submitted.map((s) => [s.name, s.id]));
    const base = (byName.get(jobs[0]?.name as string) as string).replace(/\[1\]$/, '');
    jobs.forEach((j, i) => expect(byName.get(j.name)).toBe(`${base}[${i + 1}]`));
    expect(byName.get(single.name)).toMatch(/^\d+$/);
    // The array's stdin script carries the extra directive and dispatches on LSB_JOBINDEX.
    const script = readFileSync(path.join(fb.dir, 'scripts', `lsf-${base}.sh`), 'utf8');
    expect(script).toContain('#BSUB -R "span[hosts=1]"\n');
    expect(script).toContain('"$LSB_JOBINDEX"');

    const t = tracked([...jobs, single], r.submitted);
    const before = fb.calls('bjobs').length;
    const st = await waitFor(backend, t, (s) => s.state === 'done' || s.state === 'failed', 15_000, 200);
    expect(st.get(t[3]?.id as string)).toMatchObject({ state: 'failed', exitCode: 3 });
    for (const i of [0, 1, 2, 4]) {
      expect(st.get(t[i]?.id as string)?.state).toBe('done');
      expect(readFileSync(jobs[i]?.stdout as string, 'utf8')).toContain(`idx-${i}`);
    }
    // status() asks bjobs once per call, with the array's base id instead of its elements.
    const statusCalls = fb.calls('bjobs').slice(before);
    expect(statusCalls.length).toBeGreaterThanOrEqual(1);
    const args = statusCalls[statusCalls.length - 1]?.args ?? [];
    expect(args.slice(0, 5)).toEqual([
      '-o',
      'jobid jobindex stat exit_code exit_reason pend_reason job_name',
      '-json',
      '-a',
      base,
    ]);

    // find() maps array elements back to job names through the array registry.
    const found = await backend.find([jobs[2]?.name as string, single.name, 'rc.never.a1']);
    expect(found).toEqual([
      { name: jobs[2]?.name, id: `${base}[3]` },
      { name: single.name, id: byName.get(single.name) },
    ]);
  });

  it('"Job <…> is not found": exit-code file, else unknown; plain-text variant too', async () => {
    ctx = setup('lsf-notfound', {}, { lsfForgetMs: 300 });
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'exit 4');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'failed', 10_000, 100);
    await new Promise((res) => setTimeout(res, 400)); // LSF forgets the finished job (CLEAN_PERIOD)
    let st = await backend.status(t);
    expect(st.get(t[0]?.id as string)).toMatchObject({ state: 'failed', exitCode: 4 });
    expect(st.get(t[0]?.id as string)?.reason).toContain('not known to bjobs');

    const gone: TrackedJob = {
      id: '77777',
      name: 'gone',
      exitCodeFile: path.join(fb.workRoot, 'gone.ec'),
      submittedAt: 0,
    };
    st = await backend.status([gone]);
    expect(st.get('77777')?.state).toBe('unknown');

    fb.inject('bjobs', { stderrFile: 'lsf/bjobs-not-found.stderr.txt', code: 0 });
    writeFileSync(gone.exitCodeFile, '0\n');
    st = await backend.status([{ ...gone, id: '1' }]);
    expect(st.get('1')?.state).toBe('done');
  });

  it('pending-job threshold (bsub keeps retrying): stopped by the timeout and deferred; rejection is final', async () => {
    ctx = setup('lsf-threshold', { submitTimeoutMs: 800 });
    const { fb, backend } = ctx;
    fb.inject('bsub', { stderrFile: 'lsf/bsub-pending-threshold.stderr.txt', hangMs: 20_000, code: 0 });
    const a = makeJob(fb.workRoot, nm('a'), 'true');
    const b = makeJob(fb.workRoot, nm('b'), 'true', { resources: { cpus: 2 } });
    const t0 = Date.now();
    const r = await backend.submit([a, b]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.deferred.map((d) => d.name).sort()).toEqual([a.name, b.name].sort());
    expect(r.deferred[0]?.reason).toContain('Pending job threshold reached');
    expect(fb.calls('bsub')).toHaveLength(1);

    fb.inject('bsub', { stderrFile: 'lsf/bsub-rusage-rejected.stderr.txt', code: 255 });
    const r2 = await backend.submit([a]);
    expect(r2.rejected[0]?.reason).toContain('RESRSV_LIMIT');

    fb.inject('bsub', { stderrFile: 'lsf/bsub-cannot-connect.stderr.txt', code: 255 });
    expect((await backend.submit([a])).deferred).toHaveLength(1);

    fb.patchBehavior({ lsfQueues: ['normal'] });
    const bad = makeJob(fb.workRoot, nm('q'), 'true', { resources: { queue: 'nosuch' } });
    const r3 = await backend.submit([bad]);
    expect(r3.rejected[0]?.reason).toContain('No such queue');
  });

  it('bjobs failures throw TransientError; UNKWN/ZOMBI are unknown unless the exit-code file says', async () => {
    ctx = setup('lsf-unkwn');
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'sleep 30');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'running', 10_000, 100);
    fb.inject('bjobs', { stdout: 'LSF is down. Please wait ...\n', code: 255 });
    await expect(backend.status(t)).rejects.toBeInstanceOf(TransientError);
    fb.inject('bjobs', { stdout: '{"COMMAND":"bjobs",', code: 0 });
    await expect(backend.status(t)).rejects.toBeInstanceOf(TransientError);

    fb.updateJob(`lsf-${t[0]?.id}`, (j) => {
      j.override = { STAT: 'UNKWN' };
    });
    let st = await backend.status(t);
    expect(st.get(t[0]?.id as string)).toEqual({
      state: 'unknown',
      reason: 'LSF state UNKWN; no exit-code file',
    });
    writeFileSync(a.exitCodeFile, '0\n');
    st = await backend.status(t);
    expect(st.get(t[0]?.id as string)?.state).toBe('done');
    fb.updateJob(`lsf-${t[0]?.id}`, (j) => {
      j.override = { STAT: 'SSUSP' };
    });
    expect((await backend.status(t)).get(t[0]?.id as string)).toEqual({
      state: 'running',
      reason: 'suspended (SSUSP)',
    });
  });

  it('bkill: killed job is cancelled (TERM_OWNER); finished/unknown ids are fine; other errors are transient', async () => {
    ctx = setup('lsf-kill');
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'sleep 30');
    const b = makeJob(fb.workRoot, nm('b'), 'true', { resources: { cpus: 2 } });
    const r = await backend.submit([a, b]);
    const t = tracked([a, b], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'running' || s.state === 'done', 10_000, 100);
    await waitFor(backend, t.slice(1), (s) => s.state === 'done', 10_000, 100);
    await backend.cancel([...t.map((x) => x.id), '999999']);
    const st = await waitFor(backend, t.slice(0, 1), (s) => s.state === 'cancelled', 10_000, 100);
    expect(st.get(t[0]?.id as string)?.reason).toBe('TERM_OWNER: job killed by owner');
    const kill = fb.calls('bkill');
    expect(kill).toHaveLength(1);
    fb.inject('bkill', { stderr: 'LSF is down. Please wait ...\n', code: 255 });
    await expect(backend.cancel([t[0]?.id as string])).rejects.toBeInstanceOf(TransientError);
    expect(await backend.inFlight()).toBe(0);
  });
});

describe('LSF priorities', () => {
  it('bsub -sp per priority (50 + priority); jobs of different priorities never share an array', async () => {
    const { fb, backend } = setup('lsf-prio');
    const job = (k: string, value: number): JobSpec =>
      makeJob(fb.workRoot, nm(k), 'true', { priority: { value, top: 7 } });
    const r = await backend.submit([job('hi1', 7), job('hi2', 7), job('mid', 0), job('lo', -3)]);
    expect(r.rejected).toEqual([]);
    const calls = fb.calls('bsub').map((c) => c.args);
    expect(calls).toHaveLength(3);
    const sp = (args: string[]): string | undefined =>
      args.includes('-sp') ? args[args.indexOf('-sp') + 1] : undefined;
    expect(calls.map(sp)).toEqual(['57', undefined, '47']);
    expect(calls[0]?.[1]).toMatch(/\[1-2\]$/);
    fb.killAll();
  });
});
