/** The local backend: real detached processes. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFiles, parseQueueId } from '../../src/backends/local-files.js';
import { Launcher } from '../../src/backends/local-launcher.js';
import { LocalBackend, parseLocalId, parseProcStat, procStat } from '../../src/backends/local.js';
import type { Submitted } from '../../src/backends/types.js';
import { backendConformance, makeJob, TERMINAL, track, waitFor } from './conformance.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-local-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const IDLE = { RUNCTRL_LOCAL_IDLE_EXIT_S: '20' };
const stateDirs: string[] = [];

function backend(name: string, env: NodeJS.ProcessEnv = {}): { b: LocalBackend; stateDir: string } {
  const stateDir = path.join(base, name);
  stateDirs.push(stateDir);
  return { b: new LocalBackend({ stateDir, env: { ...process.env, ...IDLE, ...env } }), stateDir };
}

function executorPid(stateDir: string): number | undefined {
  try {
    const pid = (
      JSON.parse(readFileSync(path.join(stateDir, 'local', 'executor.json'), 'utf8')) as { pid: number }
    ).pid;
    return procStat(pid) && procStat(pid)?.state !== 'Z' ? pid : undefined;
  } catch {
    return undefined;
  }
}

afterAll(() => {
  for (const d of stateDirs) {
    const pid = executorPid(d);
    if (pid !== undefined) process.kill(pid, 'SIGTERM');
  }
});

backendConformance(
  'local',
  async () => ({
    backend: backend('state').b,
    workRoot: path.join(base, 'conf'),
  }),
  { timeoutMs: 20_000, pollMs: 100, unknownId: `local:${os.hostname()}:00000000000001-000001-abcdef` },
);

/** `<start ns> <end ns>` a timed job wrote. */
function times(file: string): [number, number] {
  const [a, b] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
  return [a ?? NaN, b ?? NaN];
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Field 4 of /proc/<pid>/stat. */
function parentOf(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The executor's launcher (its perl child), if it runs. */
function launcherOf(executor: number | undefined): number | undefined {
  if (executor === undefined) return undefined;
  const r = spawnSync('pgrep', ['-P', String(executor), '-x', 'perl'], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

describe('local backend specifics', () => {
  const work = path.join(base, 'work');

  it('accepts every job at once and runs them by cpus: two 1-cpu jobs together, a 2-cpu job alone', async () => {
    const { b } = backend('state-cpus', { RUNCTRL_LOCAL_CPUS: '2' });
    const timed = (key: string, cpus: number) => {
      const out = path.join(work, `times-${key}`);
      return makeJob(
        work,
        `rc.lo.cpu.${key}.a1`,
        `s=$(date +%s%N); sleep 0.4; echo "$s $(date +%s%N)" > ${out}`,
        {
          resources: { cpus },
        },
      );
    };
    const jobs = [timed('a', 1), timed('b', 1), timed('c', 2), timed('d', 1)];
    const res = await b.submit(jobs);
    expect(res.deferred).toEqual([]);
    expect(res.rejected).toEqual([]);
    expect(res.submitted).toHaveLength(4);
    expect(await b.inFlight()).toBe(4);
    const t = jobs.map((j, i) => track(j, res.submitted[i] as Submitted));
    const early = await b.status(t);
    expect(early.get(t[3]?.id ?? '')?.state).toBe('pending');
    const st = await waitFor(b, t, (s) => TERMINAL.has(s.state), 15_000, 50);
    for (const x of t) expect(st.get(x.id)?.state).toBe('done');
    const [a, bb, c, d] = ['a', 'b', 'c', 'd'].map((k) => times(path.join(work, `times-${k}`))) as [
      [number, number],
      [number, number],
      [number, number],
      [number, number],
    ];
    expect(a[0] < bb[1] && bb[0] < a[1]).toBe(true); // a and b overlap
    const abEnd = Math.max(a[1], bb[1]);
    expect(c[0]).toBeGreaterThanOrEqual(abEnd); // c alone
    expect(d[0]).toBeGreaterThanOrEqual(c[1]);
    // the next job starts promptly once a slot frees (functional bound, not a benchmark)
    expect((c[0] - abEnd) / 1e6).toBeLessThan(1000);
    expect((d[0] - c[1]) / 1e6).toBeLessThan(1000);
    expect(await b.inFlight()).toBe(0);
  });

  it('rejects a job that asks for more than the machine has', async () => {
    const { b } = backend('state-impossible', { RUNCTRL_LOCAL_CPUS: '2', RUNCTRL_LOCAL_MEMORY_MB: '1000' });
    const res = await b.submit([
      makeJob(work, 'rc.lo.big.1.a1', 'true', { resources: { cpus: 3 } }),
      makeJob(work, 'rc.lo.big.2.a1', 'true', { resources: { memoryMb: 2000 } }),
    ]);
    expect(res.submitted).toEqual([]);
    expect(res.rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/3 cpus.*has 2/),
      expect.stringMatching(/2000 MB.*1000 MB/),
    ]);
  });

  it('cancels a running job (143) and a queued one (never started); watch() fires on each end', async () => {
    const { b } = backend('state-cancel', { RUNCTRL_LOCAL_CPUS: '1' });
    let ends = 0;
    const stop = b.watch(() => ends++);
    const marker = path.join(work, 'queued-ran');
    const run = makeJob(work, 'rc.lo.cancel.run.a1', 'echo up; sleep 30');
    const queued = makeJob(work, 'rc.lo.cancel.q.a1', `touch ${marker}`);
    const res = await b.submit([run, queued]);
    const [tr, tq] = [
      track(run, res.submitted[0] as Submitted),
      track(queued, res.submitted[1] as Submitted),
    ];
    await waitFor(b, [tr], (s) => s.state === 'running', 10_000, 50);
    for (let i = 0; i < 100 && !existsSync(run.stdout); i++) await sleepMs(20);
    for (let i = 0; i < 100 && !readFileSync(run.stdout, 'utf8').includes('up'); i++) await sleepMs(20);
    expect((await b.status([tq])).get(tq.id)?.state).toBe('pending');
    const pid = (await b.pidOf(tr.id)) as number;
    await b.cancel([tq.id, tr.id]);
    const st = await waitFor(b, [tr, tq], (s) => TERMINAL.has(s.state), 10_000, 50);
    expect(st.get(tr.id)).toMatchObject({ state: 'cancelled', exitCode: 143 });
    expect(st.get(tq.id)?.state).toBe('cancelled');
    await sleepMs(300);
    expect(existsSync(marker)).toBe(false);
    expect(procStat(pid)).toBeUndefined();
    expect(ends).toBeGreaterThanOrEqual(2);
    stop();
    stop();
    await b.close();
  });

  it('watch() is called within about 50 ms of a job end', async () => {
    const { b } = backend('state-watch');
    const job = makeJob(work, 'rc.lo.watch.1.a1', 'sleep 0.3');
    let at = 0;
    const stop = b.watch(() => (at ||= Date.now()));
    await b.submit([job]);
    for (let i = 0; i < 200 && at === 0; i++) await sleepMs(10);
    stop();
    expect(at).toBeGreaterThan(0);
    const ended = statSync(job.exitCodeFile).mtimeMs;
    expect(at - ended).toBeLessThan(1000);
  });

  it('a killed executor is started again on demand; it adopts the running job and runs the queue', async () => {
    const { b, stateDir } = backend('state-restart', { RUNCTRL_LOCAL_CPUS: '1' });
    const first = makeJob(work, 'rc.lo.restart.1.a1', 'sleep 0.8');
    const second = makeJob(work, 'rc.lo.restart.2.a1', 'true');
    const res = await b.submit([first, second]);
    const t = [track(first, res.submitted[0] as Submitted), track(second, res.submitted[1] as Submitted)];
    await waitFor(b, t.slice(0, 1), (s) => s.state === 'running', 10_000, 50);
    const pid = executorPid(stateDir) as number;
    process.kill(pid, 'SIGKILL');
    await sleepMs(100);
    expect(executorPid(stateDir)).toBeUndefined();
    const other = new LocalBackend({ stateDir, env: { ...process.env, ...IDLE } });
    expect(await other.find([first.name, second.name, 'rc.lo.restart.3.a1'])).toEqual(res.submitted);
    const st = await waitFor(other, t, (s) => TERMINAL.has(s.state), 10_000, 50);
    expect([...st.values()].map((s) => s.state)).toEqual(['done', 'done']);
    expect(executorPid(stateDir)).not.toBe(pid);
  });

  it('SIGKILL of the executor at random moments: each of 50 jobs runs exactly once and ends done', async () => {
    const { b, stateDir } = backend('state-chaos', { RUNCTRL_LOCAL_CPUS: '4' });
    const counts = path.join(work, 'chaos');
    mkdirSync(counts, { recursive: true });
    const jobs = Array.from({ length: 50 }, (_, i) =>
      makeJob(work, `rc.lo.chaos.${i}.a1`, `echo x >> ${counts}/${i}; sleep 0.0${i % 10}`),
    );
    const res = await b.submit(jobs);
    const t = jobs.map((j, i) => track(j, res.submitted[i] as Submitted));
    let kills = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await b.status(t); // restarts the executor when it is gone
      if (t.every((x) => TERMINAL.has(st.get(x.id)?.state ?? 'unknown'))) break;
      expect(Date.now()).toBeLessThan(deadline);
      await sleepMs(Math.random() * 150);
      const pid = executorPid(stateDir);
      if (pid !== undefined) {
        process.kill(pid, 'SIGKILL');
        kills++;
      }
    }
    expect(kills).toBeGreaterThan(5);
    const st = await b.status(t);
    for (const x of t) expect(st.get(x.id)?.state, x.name).toBe('done');
    jobs.forEach((_, i) =>
      expect(readFileSync(path.join(counts, String(i)), 'utf8'), `job ${i}`).toBe('x\n'),
    );
  }, 90_000);

  it('the jobs are forked by the launcher (perl), not by the executor; RUNCTRL_LOCAL_LAUNCHER=node: by the executor', async () => {
    for (const [launcher, parent] of [
      ['', 'perl'],
      ['node', 'node'],
    ] as const) {
      const { b } = backend(`state-parent-${parent}`, { RUNCTRL_LOCAL_LAUNCHER: launcher });
      const job = makeJob(work, `rc.lo.parent-${parent}.1.a1`, 'sleep 0.6');
      const res = await b.submit([job]);
      const t = [track(job, res.submitted[0] as Submitted)];
      await waitFor(b, t, (s) => s.state === 'running', 10_000, 20);
      let pid = await b.pidOf(t[0]?.id as string);
      for (let i = 0; i < 100 && pid === undefined; i++) {
        await sleepMs(10); // claimed an instant after it starts
        pid = await b.pidOf(t[0]?.id as string);
      }
      if (pid === undefined) throw new Error('the job never claimed its pid file');
      expect(readFileSync(`/proc/${parentOf(pid)}/comm`, 'utf8').trim(), launcher).toBe(parent);
      const st = await waitFor(b, t, (s) => TERMINAL.has(s.state), 10_000, 20);
      expect(st.get(t[0]?.id as string)?.state).toBe('done');
    }
  });

  it('the launcher: 300 jobs started in a burst while others end, each started once and its exit told once', async () => {
    const dir = path.join(work, 'burst');
    mkdirSync(dir, { recursive: true });
    const script = path.join(dir, 'job.sh');
    writeFileSync(script, 'echo "$RUNCTRL_BURST" >> "$RUNCTRL_BURST_OUT"\n');
    const exits = new Map<number, number>();
    const l = new Launcher(
      { ...process.env, RUNCTRL_BURST_OUT: path.join(dir, 'out') },
      (pid) => exits.set(pid, (exits.get(pid) ?? 0) + 1),
      () => undefined,
    );
    const pids = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        l.start(`t${i}`, script, { RUNCTRL_BURST: `v\t${i}` }, () => undefined),
      ),
    );
    for (let i = 0; i < 200 && exits.size < 300; i++) await sleepMs(25);
    l.close();
    expect(pids.every((p) => 'pid' in p)).toBe(true);
    expect(exits.size).toBe(300);
    expect([...exits.values()].every((n) => n === 1)).toBe(true);
    const lines = readFileSync(path.join(dir, 'out'), 'utf8').trim().split('\n').sort();
    expect(lines).toEqual(Array.from({ length: 300 }, (_, i) => `v\t${i}`).sort());
  });

  it('SIGKILL of the launcher while jobs run: each job still ends once, watched through /proc, and the queue runs on', async () => {
    const { b, stateDir } = backend('state-launcher-kill', { RUNCTRL_LOCAL_CPUS: '2' });
    const counts = path.join(work, 'launcher-kill');
    mkdirSync(counts, { recursive: true });
    const jobs = Array.from({ length: 8 }, (_, i) =>
      makeJob(work, `rc.lo.lkill.${i}.a1`, `echo x >> ${counts}/${i}; sleep 0.3`),
    );
    const res = await b.submit(jobs);
    const t = jobs.map((j, i) => track(j, res.submitted[i] as Submitted));
    await waitFor(b, t.slice(0, 1), (s) => s.state === 'running', 10_000, 20);
    let kills = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await b.status(t);
      if (t.every((x) => TERMINAL.has(st.get(x.id)?.state ?? 'unknown'))) break;
      expect(Date.now()).toBeLessThan(deadline);
      const launcher = launcherOf(executorPid(stateDir));
      if (launcher !== undefined && kills < 3) {
        process.kill(launcher, 'SIGKILL');
        kills++;
      }
      await sleepMs(200);
    }
    expect(kills).toBeGreaterThan(0);
    const st = await b.status(t);
    for (const x of t) expect(st.get(x.id)?.state, x.name).toBe('done');
    jobs.forEach((_, i) =>
      expect(readFileSync(path.join(counts, String(i)), 'utf8'), `job ${i}`).toBe('x\n'),
    );
    const log = readFileSync(path.join(stateDir, 'local', 'executor.log'), 'utf8');
    expect(log).toContain('the launcher ended');
    for (const j of jobs) expect(log.split(`ended ${j.name} `).length - 1, j.name).toBe(1);
  }, 90_000);

  it("SIGKILL of the executor between a job's exit and its end record: every end recorded once, from the exit-code file", async () => {
    // every executor kills itself at the first job end it sees, before done/ is written (RUNCTRL_FAULT)
    const { b, stateDir } = backend('state-after-exit', {
      RUNCTRL_LOCAL_CPUS: '2',
      RUNCTRL_FAULT: 'local-after-exit',
    });
    const counts = path.join(work, 'after-exit');
    mkdirSync(counts, { recursive: true });
    const jobs = Array.from({ length: 6 }, (_, i) =>
      makeJob(work, `rc.lo.afterexit.${i}.a1`, `echo x >> ${counts}/${i}; exit ${i % 3}`),
    );
    const res = await b.submit(jobs);
    const t = jobs.map((j, i) => track(j, res.submitted[i] as Submitted));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await b.status(t); // starts a new executor when the last one killed itself
      if (t.every((x) => TERMINAL.has(st.get(x.id)?.state ?? 'unknown'))) break;
      expect(Date.now()).toBeLessThan(deadline);
      await sleepMs(50);
    }
    const st = await b.status(t);
    t.forEach((x, i) =>
      expect(st.get(x.id), x.name).toMatchObject(
        i % 3 === 0 ? { state: 'done' } : { state: 'failed', exitCode: i % 3 },
      ),
    );
    jobs.forEach((_, i) =>
      expect(readFileSync(path.join(counts, String(i)), 'utf8'), `job ${i}`).toBe('x\n'),
    );
    const log = readFileSync(path.join(stateDir, 'local', 'executor.log'), 'utf8');
    for (const j of jobs) expect(log.split(`ended ${j.name} `).length - 1, j.name).toBe(1);
    // each executor died at the first end it saw (its other job's end is recorded by the next one)
    expect(log.match(/executor \d+ for /g)?.length ?? 0).toBeGreaterThanOrEqual(jobs.length / 2);
  }, 90_000);

  it('the pid claim: a second copy of a job script runs nothing; an empty pid file is waited for, then given up', async () => {
    const { b, stateDir } = backend('state-claim');
    const counts = path.join(work, 'claim');
    mkdirSync(counts, { recursive: true });
    const job = makeJob(work, 'rc.lo.claim.1.a1', `echo x >> ${counts}/n; sleep 0.5`);
    const res = await b.submit([job]);
    const t = [track(job, res.submitted[0] as Submitted)];
    await waitFor(b, t, (s) => s.state === 'running', 10_000, 20);
    const token = parseQueueId(t[0]?.id ?? '')?.token as string;
    const files = new LocalFiles(path.join(stateDir, 'local'));
    const copy = spawnSync('/bin/sh', [files.script(token)], { encoding: 'utf8' });
    expect(copy.status).toBe(0);
    expect((await waitFor(b, t, (s) => TERMINAL.has(s.state), 10_000, 50)).get(t[0]?.id ?? '')?.state).toBe(
      'done',
    );
    expect(readFileSync(path.join(counts, 'n'), 'utf8')).toBe('x\n');
    // a claimer between its create and its write: read again until the pid is there, or give up
    writeFileSync(files.pidFile('00000000000001-000001-aaaaaa'), '');
    const t0 = Date.now();
    expect(await files.claimedPid('00000000000001-000001-aaaaaa', 200)).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    setTimeout(() => writeFileSync(files.pidFile('00000000000001-000001-aaaaaa'), '4242\n'), 50);
    expect(await files.claimedPid('00000000000001-000001-aaaaaa', 5_000)).toBe(4242);
  });

  it('secrets reach the job through its environment only: never in a file of the state directory', async () => {
    const { b, stateDir } = backend('state-secret');
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const job = makeJob(work, 'rc.lo.secret.1.a1', 'echo "got:$RUNCTRL_TEST_SECRET:$RUNCTRL_OTHER"', {
      secretEnv: { RUNCTRL_TEST_SECRET: secret },
    });
    const plain = makeJob(work, 'rc.lo.secret.2.a1', 'echo "got:$RUNCTRL_TEST_SECRET:"');
    const res = await b.submit([job]);
    const res2 = await b.submit([plain]);
    const t = [track(job, res.submitted[0] as Submitted), track(plain, res2.submitted[0] as Submitted)];
    const st = await waitFor(b, t, (s) => TERMINAL.has(s.state), 10_000, 50);
    expect([...st.values()].map((s) => s.state)).toEqual(['done', 'done']);
    expect(readFileSync(job.stdout, 'utf8')).toContain(`got:${secret}:`);
    expect(readFileSync(plain.stdout, 'utf8')).toContain('got::'); // only the jobs that name it get it
    const grep = spawnSync('grep', ['-r', '-l', secret, stateDir], { encoding: 'utf8' });
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1); // searched, nothing found
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
