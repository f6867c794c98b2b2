/** The local backend: real detached processes. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend, parseLocalId, parseProcStat, procStat } from '../../src/backends/local.js';
import type { TrackedJob } from '../../src/backends/types.js';
import { backendConformance, makeJob, TERMINAL, track, waitFor } from './conformance.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-local-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

backendConformance(
  'local',
  async () => ({
    backend: new LocalBackend({ stateDir: path.join(base, 'state'), maxRunning: 16 }),
    workRoot: path.join(base, 'conf'),
  }),
  { timeoutMs: 20_000, pollMs: 100, unknownId: `local:${os.hostname()}:00000000000001-000001-abcdef` },
);

describe('local backend specifics', () => {
  const work = path.join(base, 'work');

  it('defers jobs beyond maxRunning and counts only live jobs', async () => {
    const b = new LocalBackend({ stateDir: path.join(base, 'state-limit'), maxRunning: 2 });
    const jobs = [1, 2, 3].map((i) => makeJob(work, `rc.lo.lim.${i}.a1`, 'sleep 1'));
    const res = await b.submit(jobs);
    expect(res.submitted.map((s) => s.name)).toEqual(['rc.lo.lim.1.a1', 'rc.lo.lim.2.a1']);
    expect(res.deferred.map((d) => d.name)).toEqual(['rc.lo.lim.3.a1']);
    expect(res.deferred[0]?.reason).toMatch(/limit of 2/);
    expect(await b.inFlight()).toBe(2);
    const t = res.submitted.map((s, i) => track(jobs[i] as (typeof jobs)[number], s));
    await waitFor(b, t, (s) => TERMINAL.has(s.state), 10_000, 100);
    expect(await b.inFlight()).toBe(0);
    const again = await b.submit([jobs[2] as (typeof jobs)[number]]);
    expect(again.submitted.length).toBe(1);
  });

  it('a restarted backend finds, watches and cancels a job it did not start', async () => {
    const stateDir = path.join(base, 'state-restart');
    const first = new LocalBackend({ stateDir });
    const job = makeJob(work, 'rc.lo.restart.1.a1', 'echo up; sleep 30');
    const res = await first.submit([job]);
    const id = res.submitted[0]?.id as string;
    const p = parseLocalId(id);
    expect(p?.host).toBe(os.hostname());
    expect(p?.start).toBe(procStat(p?.pid ?? 0)?.start);
    await first.close();

    const second = new LocalBackend({ stateDir });
    expect(await second.find([job.name])).toEqual([{ name: job.name, id }]);
    const t: TrackedJob = { id, name: job.name, exitCodeFile: job.exitCodeFile, submittedAt: Date.now() };
    expect((await second.status([t])).get(id)?.state).toBe('running');
    expect(await second.inFlight()).toBe(1);
    // Once the command runs, the wrapper's TERM trap is set: cancel then leaves exit code 143.
    for (let i = 0; i < 100 && !readFileSync(job.stdout, 'utf8').includes('up'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await second.cancel([id]);
    const st = await waitFor(second, [t], (s) => TERMINAL.has(s.state), 10_000, 100);
    expect(st.get(id)).toMatchObject({ state: 'cancelled', exitCode: 143 });
    expect(readFileSync(job.exitCodeFile, 'utf8').trim()).toBe('143');
    // The whole process group got the signal: no `sleep 30` is left.
    expect(procStat(p?.pid ?? 0)).toBeUndefined();
  });

  it('finds a job whose registry entry was never written (crash right after spawning it)', async () => {
    const stateDir = path.join(base, 'state-crash');
    const first = new LocalBackend({ stateDir });
    const job = makeJob(work, 'rc.lo.crash.1.a1', 'sleep 2');
    const res = await first.submit([job]);
    const id = res.submitted[0]?.id as string;
    // the crash: the registry entry is lost, only the pid file the job wrote itself remains
    rmSync(path.join(stateDir, 'local-jobs', `${job.name}.json`));
    const second = new LocalBackend({ stateDir });
    expect(await second.find([job.name])).toEqual([{ name: job.name, id }]);
    const t: TrackedJob = { id, name: job.name, exitCodeFile: job.exitCodeFile, submittedAt: Date.now() };
    expect((await second.status([t])).get(id)?.state).toBe('running');
    const st = await waitFor(second, [t], (s) => TERMINAL.has(s.state), 10_000, 100);
    expect(st.get(id)?.state).toBe('done');
    // a name that never ran is not found
    expect(await second.find(['rc.lo.crash.2.a1'])).toEqual([]);
  });

  it('a recycled pid (other start time) is not the job: not running, not cancelled', async () => {
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = stranger.pid as number;
      const real = procStat(pid)?.start as string;
      const fakeId = `local:${os.hostname()}:${pid}:${Number(real) + 1}`;
      const b = new LocalBackend({ stateDir: path.join(base, 'state-recycled') });
      const job = makeJob(work, 'rc.lo.recycled.1.a1', 'true');
      const t: TrackedJob = {
        id: fakeId,
        name: job.name,
        exitCodeFile: job.exitCodeFile,
        submittedAt: Date.now(),
      };
      expect((await b.status([t])).get(fakeId)?.state).toBe('unknown');
      await b.cancel([fakeId]);
      await new Promise((r) => setTimeout(r, 100));
      expect(procStat(pid)?.state).not.toBe('Z');
      expect(procStat(pid)?.start).toBe(real);
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('a job cancelled before its wrapper set the trap is cancelled, not unknown', async () => {
    const b = new LocalBackend({ stateDir: path.join(base, 'state-early') });
    const job = makeJob(work, 'rc.lo.early.1.a1', 'sleep 30');
    const res = await b.submit([job]);
    const id = res.submitted[0]?.id as string;
    await b.cancel([id]); // at once: the shell may not have read its script yet
    const t: TrackedJob = { id, name: job.name, exitCodeFile: job.exitCodeFile, submittedAt: Date.now() };
    const st = await waitFor(b, [t], (s) => TERMINAL.has(s.state), 10_000, 50);
    expect(st.get(id)?.state).toBe('cancelled');
  });

  it('parses /proc/<pid>/stat with odd command names', () => {
    const line =
      '4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 2203648 200 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ state: 'S', start: '987654' });
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseLocalId('local:vm:12:34')).toEqual({ host: 'vm', pid: 12, start: '34' });
    expect(parseLocalId('1234_5')).toBeUndefined();
  });
});
