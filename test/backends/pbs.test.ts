/**
 * PBS backend (PBS Pro and Torque) against fake qsub/qstat/qdel replaying recorded output (test/fakes,
 * test/fixtures/pbs): the shared conformance suite for both flavours plus PBS-specific cases.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../../src/errors.js';
import { PbsBackend, type PbsBackendOptions } from '../../src/backends/pbs.js';
import type { JobSpec, Submitted, TrackedJob } from '../../src/backends/types.js';
import { backendConformance, makeJob, track, waitFor } from './conformance.js';
import { FakeBatch } from './batch-fakes.js';

const fakes: FakeBatch[] = [];
const PRO_SERVER = 'edtb-01.mcp.alcf.anl.gov';
const TORQUE_SERVER = 'moab';

function setup(
  label: string,
  opts: Partial<PbsBackendOptions> = {},
  behavior: Record<string, unknown> = {},
): { fb: FakeBatch; backend: PbsBackend } {
  const fb = new FakeBatch(label, behavior);
  fakes.push(fb);
  const backend = new PbsBackend({ stateDir: fb.stateDir, env: fb.env, ...opts });
  return { fb, backend };
}

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.cleanup()));
});

backendConformance(
  'pbspro',
  async () => {
    const { fb, backend } = setup(
      'pbspro-conf',
      { flavour: 'pbspro' },
      { pbsFlavour: 'pbspro', pbsServer: PRO_SERVER },
    );
    return { backend, workRoot: fb.workRoot };
  },
  {
    timeoutMs: 20_000,
    pollMs: 100,
    unknownId: `999999.${PRO_SERVER}`,
    resources: { cpus: 1, walltimeMin: 10 },
  },
);

backendConformance(
  'torque',
  async () => {
    // Flavour detected from `qstat --version`.
    const { fb, backend } = setup(
      'torque-conf',
      { flavour: 'auto' },
      { pbsFlavour: 'torque', pbsServer: TORQUE_SERVER },
    );
    return { backend, workRoot: fb.workRoot };
  },
  { timeoutMs: 20_000, pollMs: 100, unknownId: `999999.${TORQUE_SERVER}`, resources: { memoryMb: 1024 } },
);

let n = 0;
const nm = (k: string): string => `rc.pbs.t.${k}.${++n}.a1`;

function tracked(jobs: JobSpec[], subs: Submitted[]): TrackedJob[] {
  const byName = new Map(subs.map((s) => [s.name, s]));
  return jobs.map((j) => track(j, byName.get(j.name) as Submitted));
}

describe('PBS backend specifics', () => {
  let ctx: { fb: FakeBatch; backend: PbsBackend } | undefined;
  afterEach(() => ctx?.fb.killAll());

  for (const flavour of ['pbspro', 'torque'] as const) {
    it(`${flavour}: equal jobs go out as ONE qsub array; full ids with the server kept; resources mapped`, async () => {
      const server = flavour === 'pbspro' ? PRO_SERVER : TORQUE_SERVER;
      ctx = setup(`${flavour}-array`, { flavour }, { pbsFlavour: flavour, pbsServer: server });
      const { fb, backend } = ctx;
      const res = {
        cpus: 2,
        memoryMb: 4096,
        walltimeMin: 75,
        queue: 'prod',
        account: 'belle2',
        extra: ['-l place=scatter'],
      };
      const jobs = [0, 1, 2, 3].map((i) =>
        makeJob(fb.workRoot, nm(`a${i}`), `echo pbs-${i}; exit ${i === 2 ? 5 : 0}`, { resources: res }),
      );
      const r = await backend.submit(jobs);
      expect(r.deferred).toEqual([]);
      expect(r.rejected).toEqual([]);
      const qsubs = fb.calls('qsub');
      expect(qsubs).toHaveLength(1);
      const args = qsubs[0]?.args ?? [];
      expect(args).toEqual(
        expect.arrayContaining([
          flavour === 'pbspro' ? '-J' : '-t',
          '1-4',
          '-q',
          'prod',
          '-A',
          'belle2',
        ]) as string[],
      );
      if (flavour === 'pbspro') {
        expect(args).toEqual(
          expect.arrayContaining([
            '-l',
            'select=1:ncpus=2:mem=4096mb',
            '-l',
            'walltime=01:15:00',
          ]) as string[],
        );
      } else {
        expect(args).toEqual(
          expect.arrayContaining([
            '-l',
            'nodes=1:ppn=2',
            '-l',
            'mem=4096mb',
            '-l',
            'walltime=01:15:00',
          ]) as string[],
        );
      }
      const script = readFileSync(args[args.length - 1] as string, 'utf8');
      expect(script).toContain('#PBS -l place=scatter\n');
      expect(script).toContain(flavour === 'pbspro' ? '"$PBS_ARRAY_INDEX"' : '"$PBS_ARRAYID"');
      const ids = r.submitted.map((s) => s.id);
      ids.forEach((id, i) =>
        expect(id).toMatch(new RegExp(`^\\d+\\[${i + 1}\\]\\.${server.replace(/\./g, '\\.')}$`)),
      );

      const t = tracked(jobs, r.submitted);
      const st = await waitFor(backend, t, (s) => s.state === 'done' || s.state === 'failed', 15_000, 200);
      expect(st.get(t[2]?.id as string)).toMatchObject({ state: 'failed', exitCode: 5 });
      for (const i of [0, 1, 3]) {
        expect(st.get(t[i]?.id as string)?.state).toBe('done');
        expect(readFileSync(jobs[i]?.stdout as string, 'utf8')).toContain(`pbs-${i}`);
      }
      const last = fb.calls('qstat').pop();
      expect(last?.args).toEqual(flavour === 'pbspro' ? ['-f', '-F', 'json', '-x', ...ids] : ['-x', ...ids]);
      const found = await backend.find([jobs[1]?.name as string]);
      expect(found).toEqual([{ name: jobs[1]?.name, id: ids[1] }]);
    });
  }

  it('E (exiting) is still running, not an error; then F by Exit_status', async () => {
    ctx = setup('pbs-exiting', { flavour: 'pbspro' }, { pbsFlavour: 'pbspro', pbsExitingMs: 700 });
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'exit 0');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    const seen = await waitFor(
      backend,
      t,
      (s) => s.reason === 'exiting (E)' || s.state === 'done',
      10_000,
      100,
    );
    expect(seen.get(t[0]?.id as string)).toEqual({ state: 'running', reason: 'exiting (E)' });
    const end = await waitFor(backend, t, (s) => s.state === 'done', 10_000, 200);
    expect(end.get(t[0]?.id as string)).toEqual({ state: 'done', exitCode: 0 });
  });

  it('unknown job id: qstat exit 153 with other jobs answered; exit-code file else unknown', async () => {
    for (const flavour of ['pbspro', 'torque'] as const) {
      ctx = setup(`${flavour}-153`, { flavour }, { pbsFlavour: flavour });
      const { fb, backend } = ctx;
      const a = makeJob(fb.workRoot, nm('a'), 'true');
      const r = await backend.submit([a]);
      const t = tracked([a], r.submitted);
      const gone: TrackedJob = {
        id: '4242.nowhere',
        name: 'gone',
        exitCodeFile: path.join(fb.workRoot, 'gone.ec'),
        submittedAt: 0,
      };
      let st = await backend.status([...t, gone]);
      expect(['pending', 'running', 'done']).toContain(st.get(t[0]?.id as string)?.state);
      expect(st.get(gone.id)).toEqual({ state: 'unknown', reason: 'not known to qstat; no exit-code file' });
      writeFileSync(gone.exitCodeFile, '7\n');
      st = await backend.status([gone]);
      expect(st.get(gone.id)).toMatchObject({ state: 'failed', exitCode: 7 });
    }
  });

  it('Torque forgets completed jobs after keep_completed: exit-code file decides', async () => {
    ctx = setup('torque-keep', { flavour: 'torque' }, { pbsFlavour: 'torque', torqueKeepCompletedMs: 200 });
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'exit 2');
    const r = await backend.submit([a]);
    const t = tracked([a], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'failed', 10_000, 100);
    await new Promise((res) => setTimeout(res, 300));
    const st = await backend.status(t);
    expect(st.get(t[0]?.id as string)).toMatchObject({ state: 'failed', exitCode: 2 });
    expect(st.get(t[0]?.id as string)?.reason).toContain('not known to qstat');
    expect(fb.calls('qstat').pop()?.args[0]).toBe('-x');
  });

  it('held (H) jobs; qstat failures are transient; qdel of finished/unknown jobs is fine', async () => {
    ctx = setup('pbs-held', { flavour: 'pbspro' }, { pbsFlavour: 'pbspro' });
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'sleep 30');
    const b = makeJob(fb.workRoot, nm('b'), 'true', { resources: { cpus: 2 } });
    const r = await backend.submit([a, b]);
    const t = tracked([a, b], r.submitted);
    await waitFor(backend, t, (s) => s.state === 'running' || s.state === 'done', 10_000, 100);
    fb.updateJob(`pbs-${t[0]?.id}`, (j) => {
      j.override = { job_state: 'H' };
    });
    expect((await backend.status(t)).get(t[0]?.id as string)?.state).toBe('held');
    fb.updateJob(`pbs-${t[0]?.id}`, (j) => {
      j.override = {};
    });

    fb.inject('qstat', { stderr: 'qstat: cannot connect to server pbs01 (errno=111)\n', code: 1 });
    await expect(backend.status(t)).rejects.toBeInstanceOf(TransientError);
    fb.inject('qstat', { stdout: '{"Jobs":', code: 0 });
    await expect(backend.status(t)).rejects.toBeInstanceOf(TransientError);

    await waitFor(backend, t.slice(1), (s) => s.state === 'done', 10_000, 100);
    await backend.cancel([...t.map((x) => x.id), `1.${PRO_SERVER}`]);
    const st = await waitFor(backend, t.slice(0, 1), (s) => s.state === 'cancelled', 10_000, 100);
    expect(st.get(t[0]?.id as string)).toMatchObject({ state: 'cancelled', exitCode: 271 });
    await backend.cancel([t[0]?.id as string]); // finished now: "qdel: Job has finished"
    fb.inject('qdel', { stderr: 'qdel: cannot connect to server pbs01 (errno=111)\n', code: 1 });
    await expect(backend.cancel([t[0]?.id as string])).rejects.toBeInstanceOf(TransientError);
  });

  it('qsub errors: limits/unreachable deferred, bad requests rejected; unknown flavour is a UserError', async () => {
    ctx = setup('pbs-qsub', { flavour: 'torque' }, { pbsFlavour: 'torque' });
    const { fb, backend } = ctx;
    const a = makeJob(fb.workRoot, nm('a'), 'true');
    const b = makeJob(fb.workRoot, nm('b'), 'true', { resources: { cpus: 3 } });
    fb.inject('qsub', { stderrFile: 'pbs/qsub-torque-limit.stderr.txt', code: 1 });
    let r = await backend.submit([a, b]);
    expect(r.deferred).toHaveLength(2);
    expect(r.deferred[0]?.reason).toContain('Maximum number of jobs already in queue');
    expect(fb.calls('qsub')).toHaveLength(1);
    fb.inject('qsub', { stderrFile: 'pbs/qsub-torque-trqauthd.stderr.txt', code: 1 });
    r = await backend.submit([a]);
    expect(r.deferred).toHaveLength(1);
    fb.inject('qsub', { stderr: 'qsub: Unknown queue MSG=requested queue not found\n', code: 1 });
    r = await backend.submit([a]);
    expect(r.rejected[0]?.reason).toContain('Unknown queue');

    const odd = setup('pbs-flavour', { flavour: 'auto' });
    odd.fb.inject('qstat', { stdout: 'something else\n', code: 0 });
    await expect(odd.backend.inFlight()).rejects.toBeInstanceOf(UserError);
  });
});

describe('PBS priorities', () => {
  it('qsub -p per priority; jobs of different priorities never share an array', async () => {
    const { fb, backend } = setup('pbs-prio', { flavour: 'pbspro' }, { pbsFlavour: 'pbspro' });
    const job = (k: string, value: number): JobSpec =>
      makeJob(fb.workRoot, nm(k), 'true', { priority: { value, top: 7 } });
    const r = await backend.submit([job('hi1', 7), job('hi2', 7), job('mid', 0), job('lo', -3)]);
    expect(r.rejected).toEqual([]);
    const calls = fb.calls('qsub').map((c) => c.args);
    expect(calls).toHaveLength(3);
    const p = (args: string[]): string | undefined =>
      args.includes('-p') ? args[args.indexOf('-p') + 1] : undefined;
    expect(calls.map(p)).toEqual(['7', undefined, '-3']);
    expect(calls[0]).toContain('1-2');
    fb.killAll();
  });
});
