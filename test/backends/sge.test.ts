/**
 * The Grid Engine backend against a real private SoGE 8.1.9 in a network namespace (scripts/sge.sh,
 * started in a temp dir). Needs root and the gridengine packages (the script installs them); skipped when
 * not root.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/backends/exec.js';
import { SgeBackend, type SgeOptions } from '../../src/backends/sge.js';
import type { JobSpec, JobState, SubmitResult, TrackedJob } from '../../src/backends/types.js';
import { TransientError } from '../../src/errors.js';
import { backendConformance, makeJob, TERMINAL, track, waitFor } from './conformance.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const script = path.join(root, 'scripts', 'sge.sh');
const isRoot = process.getuid?.() === 0;
const skip = isRoot
  ? undefined
  : 'needs root to start a private Grid Engine (scripts/sge.sh); run the tests as root';

let base = '';
let env: NodeJS.ProcessEnv = {};

beforeAll(() => {
  if (!isRoot) return;
  base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-sge-'));
  const out = execFileSync('bash', [script, 'up', path.join(base, 'sge')], { encoding: 'utf8' });
  const bin = /export PATH=(\S+?):\$PATH/.exec(out)?.[1];
  if (!bin) throw new Error(`scripts/sge.sh up printed no PATH: ${out}`);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
}, 120_000);

afterAll(() => {
  if (!base) return;
  execFileSync('bash', [script, 'down', path.join(base, 'sge')], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
}, 60_000);

function backend(extra: Partial<SgeOptions> = {}): SgeBackend {
  return new SgeBackend({ stateDir: path.join(base, 'state'), env, commandTimeoutMs: 10_000, ...extra });
}

function trackAll(jobs: JobSpec[], res: SubmitResult): TrackedJob[] {
  const byName = new Map(res.submitted.map((s) => [s.name, s]));
  return jobs.map((j) => {
    const s = byName.get(j.name);
    if (!s) throw new Error(`${j.name} was not submitted: ${JSON.stringify(res)}`);
    return track(j, s);
  });
}

backendConformance('sge', async () => ({ backend: backend(), workRoot: path.join(base, 'conf') }), {
  timeoutMs: 40_000,
  pollMs: 300,
  unknownId: '999999',
  ...(skip ? { skip } : {}),
});

describe.skipIf(!isRoot)('sge backend specifics', () => {
  const work = (): string => path.join(base, 'work');

  it('array ids N.1…N.k for equal resources, N for a single job; pending → running → done', async () => {
    const b = backend();
    // 5 array tasks on 4 slots: the last one waits.
    const jobs = [1, 2, 3, 4, 5].map((i) => makeJob(work(), `rc.sg.arr.${i}.a1`, `sleep 1; echo task${i}`));
    const single = makeJob(work(), 'rc.sg.single.1.a1', 'echo single; exit 5', {
      resources: { walltimeMin: 5, memoryMb: 200 },
    });
    const res = await b.submit([...jobs, single]);
    expect(res.rejected).toEqual([]);
    const t = trackAll([...jobs, single], res);
    const ids = t.map((x) => x.id);
    const m = ids.slice(0, 5).map((id) => /^(\d+)\.(\d+)$/.exec(id));
    expect(new Set(m.map((x) => x?.[1])).size).toBe(1);
    expect(m.map((x) => x?.[2])).toEqual(['1', '2', '3', '4', '5']);
    expect(ids[5]).toMatch(/^\d+$/);
    const seen: string[] = [];
    const deadline = Date.now() + 30_000;
    let st = new Map<string, JobState>();
    for (;;) {
      st = await b.status(t);
      const s = st.get(ids[4] as string)?.state ?? 'unknown';
      if (seen[seen.length - 1] !== s) seen.push(s);
      if (t.every((x) => TERMINAL.has(st.get(x.id)?.state ?? 'unknown')) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(seen[0]).toBe('pending');
    expect(seen).toContain('running');
    expect(seen[seen.length - 1]).toBe('done');
    expect(st.get(ids[5] as string)).toMatchObject({ state: 'failed', exitCode: 5 });
    expect(readFileSync((jobs[2] as JobSpec).stdout, 'utf8')).toBe('task3\n');
  }, 60_000);

  it('held job: held, found by a new backend, released → done; a held array task cancelled', async () => {
    const b = backend();
    const jobs = [1, 2].map((i) =>
      makeJob(work(), `rc.sg.held.${i}.a1`, 'echo held-ok', { resources: { extra: ['-h'] } }),
    );
    const [th, tl] = trackAll(jobs, await b.submit(jobs)) as [TrackedJob, TrackedJob];
    let st = await b.status([th, tl]);
    expect(st.get(th.id)).toMatchObject({ state: 'held' });
    expect(await b.inFlight()).toBeGreaterThanOrEqual(2);
    const found = await backend().find([th.name, tl.name, 'rc.sg.none.a1']);
    expect(found.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: th.name, id: th.id },
      { name: tl.name, id: tl.id },
    ]);
    await b.cancel([tl.id]);
    const rel = await exec('qrls', [th.id], { env });
    expect(rel.code, rel.stderr).toBe(0);
    st = await waitFor(b, [th, tl], (s) => TERMINAL.has(s.state), 30_000, 200);
    expect(st.get(th.id)).toMatchObject({ state: 'done', exitCode: 0 });
    expect(st.get(tl.id)?.state).toBe('cancelled');
    // Another backend cannot tell about a pending task deleted without a record: unknown, never failed.
    expect((await backend().status([tl])).get(tl.id)?.state).toBe('unknown');
  }, 60_000);

  it('a finished job is resolved via qacct, then its exit-code file, else unknown', async () => {
    const b = backend();
    const jobs = [makeJob(work(), 'rc.sg.gone.1.a1', 'exit 4'), makeJob(work(), 'rc.sg.gone.2.a1', 'true')];
    const t = trackAll(jobs, await b.submit(jobs));
    await waitFor(b, t, (s) => TERMINAL.has(s.state), 30_000, 200);
    for (const x of t) rmSync(x.exitCodeFile, { force: true });
    // qacct sees a job about a second after it left qstat (flush_time 1 s).
    let st = new Map<string, JobState>();
    const deadline = Date.now() + 10_000;
    do {
      st = await backend().status(t);
      if (t.every((x) => st.get(x.id)?.state !== 'unknown')) break;
      await new Promise((r) => setTimeout(r, 300));
    } while (Date.now() < deadline);
    expect(st.get((t[0] as TrackedJob).id)).toMatchObject({ state: 'failed', exitCode: 4 });
    expect(st.get((t[1] as TrackedJob).id)).toMatchObject({ state: 'done', exitCode: 0 });
    const noAcct = backend({ accounting: false });
    st = await noAcct.status(t);
    for (const x of t) expect(st.get(x.id)?.state).toBe('unknown');
    writeFileSync((t[0] as TrackedJob).exitCodeFile, '4\n');
    expect((await noAcct.status(t)).get((t[0] as TrackedJob).id)).toMatchObject({
      state: 'failed',
      exitCode: 4,
    });
  }, 60_000);

  it('refuses impossible requests (rejected) and keeps the other jobs', async () => {
    const res = await backend().submit([
      makeJob(work(), 'rc.sg.bad.1.a1', 'true', { resources: { queue: 'nosuch.q' } }),
      makeJob(work(), 'rc.sg.bad.2.a1', 'true', { resources: { cpus: 2 } }),
      makeJob(work(), 'rc.sg.bad.3.a1', 'true', { resources: { extra: ['--bogus'] } }),
      makeJob(work(), 'rc.sg.bad.4.a1', 'true'),
    ]);
    expect(res.deferred).toEqual([]);
    expect(res.rejected.map((r) => r.name)).toEqual(['rc.sg.bad.1.a1', 'rc.sg.bad.2.a1', 'rc.sg.bad.3.a1']);
    expect(res.rejected[0]?.reason).toMatch(/unknown queue "nosuch.q"/);
    expect(res.rejected[1]?.reason).toMatch(/parallel environment "smp" does not exist/);
    expect(res.submitted.map((s) => s.name)).toEqual(['rc.sg.bad.4.a1']);
  }, 30_000);

  it('qmaster unreachable: status/find/inFlight/cancel throw TransientError, submit is deferred', async () => {
    // Client wrappers that talk to a port nobody listens on.
    const bin = path.join(base, 'down-bin');
    mkdirSync(bin, { recursive: true });
    const realBin = (env.PATH ?? '').split(':')[0] as string;
    for (const c of ['qsub', 'qstat', 'qdel', 'qacct']) {
      const text = readFileSync(path.join(realBin, c), 'utf8').replace(
        /SGE_QMASTER_PORT='\d+'/,
        "SGE_QMASTER_PORT='1'",
      );
      writeFileSync(path.join(bin, c), text);
      chmodSync(path.join(bin, c), 0o755);
    }
    const down = new SgeBackend({
      stateDir: path.join(base, 'state-down'),
      env: { ...env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      commandTimeoutMs: 5_000,
    });
    const j = makeJob(work(), 'rc.sg.down.1.a1', 'true');
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
      expect(sub.value.deferred.map((d) => d.name)).toEqual([j.name]);
      expect(sub.value.deferred[0]?.reason).toMatch(/unable to send message to qmaster/);
    }
  }, 30_000);
});

describe.skipIf(!isRoot)('sge priorities', () => {
  it('qsub -p from the priority: the highest gets 0, a lower one priority − top (qstat -j)', async () => {
    const b = backend();
    const work = path.join(base, 'work-prio');
    const job = (k: string, value: number): JobSpec =>
      makeJob(work, `rc.gprio.${k}.a1`, 'sleep 30', { priority: { value, top: 10 } });
    const jobs = [job('hi.1', 10), job('hi.2', 10), job('lo.1', 4)];
    const res = await b.submit(jobs);
    expect(res.rejected).toEqual([]);
    const ids = trackAll(jobs, res).map((t) => t.id);
    try {
      const prio = async (id: string): Promise<string> => {
        const r = await exec('qstat', ['-j', id.replace(/\.\d+$/, '')], { env });
        expect(r.stdout).toMatch(/^job_number:/m);
        return /^priority:\s+(-?\d+)/m.exec(r.stdout)?.[1] ?? '0'; // qstat -j leaves out the default 0
      };
      expect(await prio(ids[0] as string)).toBe('0');
      expect(await prio(ids[2] as string)).toBe('-6');
      expect(ids[0]).toMatch(/\.1$/); // the two of equal priority still share one array
    } finally {
      await b.cancel(ids);
    }
  }, 30_000);
});
