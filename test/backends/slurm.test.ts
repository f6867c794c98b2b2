/**
 * The Slurm backend against a real private Slurm 22.05 (scripts/slurm.sh, started in a temp dir with
 * MinJobAge=5 so finished jobs vanish from squeue during the test). Needs root; skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/backends/exec.js';
import { SlurmBackend, type SlurmOptions } from '../../src/backends/slurm.js';
import type { JobSpec, JobState, SubmitResult, TrackedJob } from '../../src/backends/types.js';
import { TransientError } from '../../src/errors.js';
import { backendConformance, makeJob, TERMINAL, track, waitFor } from './conformance.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const script = path.join(root, 'scripts', 'slurm.sh');
const isRoot = process.getuid?.() === 0;
const skip = isRoot
  ? undefined
  : 'needs root to start a private Slurm (scripts/slurm.sh); run the tests as root';

let base = '';
let env: NodeJS.ProcessEnv = {};

beforeAll(() => {
  if (!isRoot) return;
  base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-slurm-'));
  chmodSync(base, 0o755); // munged wants o+x on every directory of its socket path
  const out = execFileSync('bash', [script, 'up', path.join(base, 'slurm')], {
    encoding: 'utf8',
    env: { ...process.env, SLURM_MIN_JOB_AGE: '5', SLURM_CPUS: '4' },
  });
  const conf = /export SLURM_CONF=(\S+)/.exec(out)?.[1];
  if (!conf) throw new Error(`scripts/slurm.sh up printed no SLURM_CONF: ${out}`);
  env = { ...process.env, SLURM_CONF: conf };
}, 120_000);

afterAll(() => {
  if (!base) return;
  execFileSync('bash', [script, 'down', path.join(base, 'slurm')], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
}, 60_000);

function trackAll(jobs: JobSpec[], res: SubmitResult): TrackedJob[] {
  const byName = new Map(res.submitted.map((s) => [s.name, s]));
  return jobs.map((j) => {
    const s = byName.get(j.name);
    if (!s) throw new Error(`${j.name} was not submitted: ${JSON.stringify(res)}`);
    return track(j, s);
  });
}

function backend(extra: Partial<SlurmOptions> = {}): SlurmBackend {
  return new SlurmBackend({ stateDir: path.join(base, 'state'), env, commandTimeoutMs: 10_000, ...extra });
}

backendConformance('slurm', async () => ({ backend: backend(), workRoot: path.join(base, 'conf') }), {
  timeoutMs: 40_000,
  pollMs: 300,
  unknownId: '999999',
  ...(skip ? { skip } : {}),
});

describe.skipIf(!isRoot)('slurm backend specifics', () => {
  const work = (): string => path.join(base, 'work');
  const squeueIds = async (): Promise<string[]> => {
    const r = await exec('squeue', ['-h', '-r', '-t', 'all', '-u', 'root', '-o', '%i'], { env });
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  };

  it('submits jobs with equal resources as one array, others one by one', async () => {
    const b = backend();
    const jobs = [
      makeJob(work(), 'rc.sp.arr.1.a1', 'echo one', { resources: { cpus: 1 } }),
      makeJob(work(), 'rc.sp.arr.2.a1', 'echo two', { resources: { cpus: 1 } }),
      makeJob(work(), 'rc.sp.arr.3.a1', 'echo three; exit 5', { resources: { cpus: 1 } }),
      makeJob(work(), 'rc.sp.single.1.a1', 'echo single', {
        resources: { cpus: 1, memoryMb: 100, walltimeMin: 5 },
      }),
    ];
    const res = await b.submit(jobs);
    expect(res.rejected).toEqual([]);
    const ids = res.submitted.map((s) => s.id);
    const arr = ids.slice(0, 3).map((id) => /^(\d+)_(\d+)$/.exec(id));
    expect(arr.every((m) => m !== null)).toBe(true);
    expect(new Set(arr.map((m) => m?.[1])).size).toBe(1);
    expect(arr.map((m) => m?.[2])).toEqual(['0', '1', '2']);
    expect(ids[3]).toMatch(/^\d+$/);
    const t = trackAll(jobs, res);
    const st = await waitFor(b, t, (s) => TERMINAL.has(s.state), 30_000, 300);
    expect(t.map((x) => st.get(x.id)?.state)).toEqual(['done', 'done', 'failed', 'done']);
    expect(st.get((t[2] as TrackedJob).id)?.exitCode).toBe(5);
    expect(readFileSync((jobs[1] as { stdout: string }).stdout, 'utf8')).toBe('two\n');
    // The single job got its resources.
    const scontrol = await exec('scontrol', ['show', 'job', ids[3] as string, '-o'], { env });
    if (scontrol.code === 0) expect(scontrol.stdout).toMatch(/TimeLimit=00:05:00/);
  }, 60_000);

  it('held → pending → running → done, and a held job cancelled', async () => {
    const b = backend();
    const held = makeJob(work(), 'rc.sp.held.1.a1', 'sleep 1; echo held-ok', {
      resources: { extra: ['--hold'] },
    });
    const later = makeJob(work(), 'rc.sp.held.2.a1', 'sleep 1', { resources: { extra: ['--hold'] } });
    const res = await b.submit([held, later]);
    expect(res.submitted.length).toBe(2);
    const [th, tl] = trackAll([held, later], res) as [TrackedJob, TrackedJob];
    let st = await b.status([th, tl]);
    expect(st.get(th.id)).toMatchObject({ state: 'held' });
    expect(st.get(th.id)?.reason).toMatch(/JobHeld/);
    expect(await b.inFlight()).toBeGreaterThanOrEqual(2);
    // A new backend (after a restart) finds the array tasks by name through the manifest.
    const found = await backend().find([held.name, later.name, 'rc.sp.none.a1']);
    expect(found.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: held.name, id: th.id },
      { name: later.name, id: tl.id },
    ]);
    await b.cancel([tl.id]);
    const rel = await exec('scontrol', ['release', th.id], { env });
    expect(rel.code, rel.stderr).toBe(0);
    st = await waitFor(b, [th, tl], (s) => TERMINAL.has(s.state), 30_000, 200);
    expect(st.get(th.id)).toMatchObject({ state: 'done', exitCode: 0 });
    // A pending array task cancelled vanishes from squeue at once, without a jobcomp record: the backend
    // that cancelled it says cancelled; another one cannot tell (unknown, never failed).
    expect(st.get(tl.id)?.state).toBe('cancelled');
    expect((await backend().status([tl])).get(tl.id)?.state).toBe('unknown');
    expect(readFileSync(held.stdout, 'utf8')).toBe('held-ok\n');
  }, 60_000);

  it('pending (waiting for resources) → running → done', async () => {
    const b = backend();
    // Each job wants all 4 CPUs of the node: the second waits for the first.
    const jobs = [1, 2].map((i) =>
      makeJob(work(), `rc.sp.res.${i}.a1`, 'sleep 1', { resources: { cpus: 4 } }),
    );
    const t = trackAll(jobs, await b.submit(jobs));
    const second = t[1] as TrackedJob;
    const seen: JobState[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const st = await b.status(t);
      const s = st.get(second.id) as JobState;
      if (seen[seen.length - 1]?.state !== s.state) seen.push(s);
      if (t.every((x) => TERMINAL.has(st.get(x.id)?.state ?? 'unknown')) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(seen.map((s) => s.state)).toEqual(['pending', 'running', 'done']);
  }, 60_000);

  it('a job gone from squeue (MinJobAge) is resolved via sacct -c, then its exit-code file, else unknown', async () => {
    const b = backend();
    const jobs = [
      makeJob(work(), 'rc.sp.gone.1.a1', 'exit 4'),
      makeJob(work(), 'rc.sp.gone.2.a1', 'exit 0'),
      makeJob(work(), 'rc.sp.gone.3.a1', 'exit 6', { resources: { cpus: 1 } }),
    ];
    // Two in one array (gone.1, gone.2), one single (gone.3).
    const res = await b.submit(jobs);
    expect(res.submitted.length).toBe(3);
    const t = trackAll(jobs, res);
    const ids = t.map((x) => x.id);
    const deadline = Date.now() + 40_000;
    while ((await squeueIds()).some((id) => ids.includes(id))) {
      if (Date.now() > deadline) throw new Error('jobs still in squeue after 40 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const x of t) rmSync(x.exitCodeFile, { force: true });
    // A fresh backend (no memory of raw array ids): sacct -c answers through the task's recorded job id.
    let st = await backend().status(t);
    expect(st.get(ids[0] as string)).toMatchObject({ state: 'failed', exitCode: 4 });
    expect(st.get(ids[1] as string)).toMatchObject({ state: 'done', exitCode: 0 });
    expect(st.get(ids[2] as string)).toMatchObject({ state: 'failed', exitCode: 6 });
    // Without accounting: the exit-code file decides, and without it the job is unknown, not failed.
    const noAcct = backend({ accounting: 'none' });
    st = await noAcct.status(t);
    for (const id of ids) expect(st.get(id)?.state).toBe('unknown');
    writeFileSync((t[0] as TrackedJob).exitCodeFile, '4\n');
    st = await noAcct.status(t);
    expect(st.get(ids[0] as string)).toMatchObject({ state: 'failed', exitCode: 4 });
  }, 60_000);

  it('refuses an impossible request (rejected) and keeps the other jobs', async () => {
    const b = backend();
    const res = await b.submit([
      makeJob(work(), 'rc.sp.bad.1.a1', 'true', { resources: { queue: 'nope' } }),
      makeJob(work(), 'rc.sp.bad.2.a1', 'true', { resources: { memoryMb: 999_999 } }),
      makeJob(work(), 'rc.sp.bad.3.a1', 'true', { resources: { extra: ['--no-such-option'] } }),
      makeJob(work(), 'rc.sp.bad.4.a1', 'true'),
    ]);
    expect(res.deferred).toEqual([]);
    expect(res.rejected.map((r) => r.name)).toEqual(['rc.sp.bad.1.a1', 'rc.sp.bad.2.a1', 'rc.sp.bad.3.a1']);
    expect(res.rejected[0]?.reason).toMatch(/invalid partition/i);
    expect(res.rejected[1]?.reason).toMatch(/Memory specification can not be satisfied/);
    expect(res.submitted.map((s) => s.name)).toEqual(['rc.sp.bad.4.a1']);
  }, 30_000);

  it('controller down: status/inFlight/find/cancel throw TransientError quickly, submit is deferred', async () => {
    const conf = readFileSync(env.SLURM_CONF as string, 'utf8').replace(
      /^SlurmctldPort=.*$/m,
      'SlurmctldPort=1',
    );
    const downConf = path.join(base, 'down.conf');
    writeFileSync(downConf, conf);
    const down = new SlurmBackend({
      stateDir: path.join(base, 'state-down'),
      env: { ...env, SLURM_CONF: downConf },
      commandTimeoutMs: 1_500,
      submitTimeoutMs: 15_000,
    });
    const j = makeJob(work(), 'rc.sp.down.1.a1', 'true');
    const t0 = Date.now();
    const [st, fl, fd, cc, sub] = await Promise.allSettled([
      down.status([{ id: '12', name: j.name, exitCodeFile: j.exitCodeFile, submittedAt: Date.now() }]),
      down.inFlight(),
      down.find([j.name]),
      down.cancel(['12']),
      down.submit([j]),
    ]);
    for (const r of [st, fl, fd, cc]) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(TransientError);
    }
    expect(sub.status).toBe('fulfilled');
    if (sub.status === 'fulfilled') {
      expect(sub.value.submitted).toEqual([]);
      expect(sub.value.deferred.map((d) => d.name)).toEqual([j.name]);
      expect(sub.value.deferred[0]?.reason).toMatch(/Unable to contact slurm controller|did not answer/);
    }
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(existsSync(downConf)).toBe(true);
  }, 40_000);
});

describe.skipIf(!isRoot)('slurm priorities', () => {
  it('--nice from the priority: the highest gets nice 0, a lower one top − priority (squeue %y)', async () => {
    const b = backend();
    const work = path.join(base, 'work-prio');
    const job = (k: string, value: number): JobSpec =>
      makeJob(work, `rc.sprio.${k}.a1`, 'sleep 30', { resources: { cpus: 1 }, priority: { value, top: 10 } });
    const jobs = [job('hi.1', 10), job('hi.2', 10), job('lo.1', 4)];
    const res = await b.submit(jobs);
    expect(res.rejected).toEqual([]);
    const ids = trackAll(jobs, res).map((t) => t.id);
    try {
      const nice = async (id: string): Promise<string> =>
        (await exec('squeue', ['-h', '-r', '-j', id, '-o', '%y'], { env })).stdout.trim();
      expect(await nice(ids[0] as string)).toBe('0');
      expect(await nice(ids[1] as string)).toBe('0');
      expect(await nice(ids[2] as string)).toBe('6');
      expect(ids[0]).toMatch(/_0$/); // the two of equal priority still share one array
    } finally {
      await b.cancel(ids);
    }
  }, 30_000);
});
