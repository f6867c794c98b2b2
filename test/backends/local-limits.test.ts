/**
 * The local backend's limits (src/backends/local-limits.ts) on real processes: memory_mb as RLIMIT_AS with an
 * allocation failure marked `oom`, walltime_min by a watchdog (SIGTERM, then SIGKILL) marked `timeout`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend, procStat } from '../../src/backends/local.js';
import { parseQueueId } from '../../src/backends/local-files.js';
import { limitMarkFile } from '../../src/backends/local-limits.js';
import { makeJob, TERMINAL, track, waitFor } from './conformance.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-local-limits-'));
const stateDir = path.join(base, 'state');
const b = new LocalBackend({ stateDir, env: { ...process.env, RUNCTRL_LOCAL_IDLE_EXIT_S: '10' } });
const work = path.join(base, 'work');

afterAll(() => {
  try {
    const pid = (
      JSON.parse(readFileSync(path.join(stateDir, 'local', 'executor.json'), 'utf8')) as { pid: number }
    ).pid;
    if (procStat(pid)) process.kill(pid, 'SIGTERM');
  } catch {
    // no executor
  }
  rmSync(base, { recursive: true, force: true });
});

// allocates (and touches) MB megabytes
const alloc = (mb: number): string => `python3 -c 'b = bytearray(${mb} * 1024 * 1024); print(len(b))'`;

describe('local backend limits', () => {
  it(
    'fails a job beyond memory_mb as oom, runs one within it, and says nothing of an ordinary failure',
    { timeout: 60_000 },
    async () => {
      const jobs = [
        makeJob(work, 'rc.lim.mem.1.a1', alloc(400), { resources: { memoryMb: 200 } }),
        makeJob(work, 'rc.lim.mem.2.a1', alloc(100), { resources: { memoryMb: 400 } }),
        makeJob(work, 'rc.lim.mem.3.a1', 'echo boom >&2; exit 3', {
          resources: { memoryMb: 400 },
        }),
      ];
      const res = await b.submit(jobs);
      const tracked = jobs.map((j, i) => track(j, res.submitted[i] ?? { name: j.name, id: '?' }));
      const st = await waitFor(b, tracked, (s) => TERMINAL.has(s.state), 40_000, 200);
      const [big, small, other] = tracked.map((t) => st.get(t.id));
      expect(big).toMatchObject({ state: 'failed', failureClass: 'oom' });
      expect(readFileSync(jobs[0]?.stderr ?? '', 'utf8')).toMatch(/MemoryError/);
      expect(small).toMatchObject({ state: 'done', exitCode: 0 });
      // the command's own failure: no class from the backend (the poller calls it app)
      expect(other).toMatchObject({ state: 'failed', exitCode: 3 });
      expect(other?.failureClass).toBeUndefined();
    },
  );

  it(
    'kills a job at its walltime_min (SIGTERM, exit 143) and marks it timeout; a quick one is left alone',
    { timeout: 60_000 },
    async () => {
      const jobs = [
        makeJob(work, 'rc.lim.wall.1.a1', 'sleep 30', { resources: { walltimeMin: 0.05 } }),
        makeJob(work, 'rc.lim.wall.2.a1', 'sleep 0.2', { resources: { walltimeMin: 0.05 } }),
        makeJob(
          work,
          'rc.lim.wall.3.a1',
          `trap '' TERM; sh -c 'echo $$ > ${path.join(base, 'stubborn.pid')}; exec sleep 30'`,
          {
            resources: { walltimeMin: 0.05 },
          },
        ),
      ];
      const started = Date.now();
      const res = await b.submit(jobs);
      const tracked = jobs.map((j, i) => track(j, res.submitted[i] ?? { name: j.name, id: '?' }));
      const st = await waitFor(b, tracked, (s) => TERMINAL.has(s.state), 40_000, 200);
      const [slow, quick, stubborn] = tracked.map((t) => st.get(t.id));
      expect(slow).toMatchObject({ state: 'failed', exitCode: 143, failureClass: 'timeout' });
      expect(quick).toMatchObject({ state: 'done', exitCode: 0 });
      expect(existsSync(limitMarkFile(jobs[1]?.exitCodeFile ?? ''))).toBe(false);
      expect(stubborn).toMatchObject({ state: 'failed', failureClass: 'timeout' });
      expect(Date.now() - started).toBeLessThan(30_000); // not the 30 s of the sleeps
      // the command that ignores SIGTERM gets SIGKILL a few seconds later
      const pid = Number(readFileSync(path.join(base, 'stubborn.pid'), 'utf8'));
      const gone = (): boolean => procStat(pid) === undefined || procStat(pid)?.state === 'Z';
      for (const deadline = Date.now() + 20_000; !gone() && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 200));
      expect(gone()).toBe(true);
    },
  );

  it(
    'RUNCTRL_LOCAL_MEMORY_LIMIT=off leaves memory_mb to scheduling only; a bad value is refused',
    { timeout: 60_000 },
    async () => {
      const off = new LocalBackend({
        stateDir: path.join(base, 'off'),
        env: { ...process.env, RUNCTRL_LOCAL_IDLE_EXIT_S: '5', RUNCTRL_LOCAL_MEMORY_LIMIT: 'off' },
      });
      const job = makeJob(work, 'rc.lim.off.1.a1', alloc(300), { resources: { memoryMb: 200 } });
      const res = await off.submit([job]);
      const t = track(job, res.submitted[0] ?? { name: job.name, id: '?' });
      const st = await waitFor(off, [t], (s) => TERMINAL.has(s.state), 40_000, 200);
      expect(st.get(t.id)).toMatchObject({ state: 'done' });
      expect(
        () =>
          new LocalBackend({
            stateDir: path.join(base, 'bad'),
            env: { RUNCTRL_LOCAL_MEMORY_LIMIT: 'cgroup' },
          }),
      ).toThrow(/RUNCTRL_LOCAL_MEMORY_LIMIT must be 'as' \(RLIMIT_AS, the default\) or 'off', not 'cgroup'/);
    },
  );

  it(
    "the wall time counts from the job's start across an executor SIGKILL: the adopting executor ends it on time",
    { timeout: 60_000 },
    async () => {
      const job = makeJob(work, 'rc.lim.adopt.1.a1', 'sleep 30', { resources: { walltimeMin: 0.1 } });
      const res = await b.submit([job]);
      const t = track(job, res.submitted[0] ?? { name: job.name, id: '?' });
      await waitFor(b, [t], (s) => s.state === 'running', 20_000, 50);
      await new Promise((r) => setTimeout(r, 4_000)); // 4 s of its 6
      const executor = (
        JSON.parse(readFileSync(path.join(stateDir, 'local', 'executor.json'), 'utf8')) as { pid: number }
      ).pid;
      process.kill(executor, 'SIGKILL');
      const st = await waitFor(b, [t], (s) => TERMINAL.has(s.state), 40_000, 100); // status starts a new one
      expect(st.get(t.id)).toMatchObject({ state: 'failed', exitCode: 143, failureClass: 'timeout' });
      const pidFile = path.join(stateDir, 'local', 'jobs', `${parseQueueId(t.id)?.token ?? '?'}.pid`);
      // ended about 6 s after it started, not 6 s after the new executor adopted it (about 10 s)
      const ran = statSync(job.exitCodeFile).mtimeMs - statSync(pidFile).mtimeMs;
      expect(ran).toBeGreaterThanOrEqual(5_900);
      expect(ran).toBeLessThan(9_000);
    },
  );
});
