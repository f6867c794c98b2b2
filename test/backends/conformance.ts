/**
 * Backend conformance suite: the behaviour every runctrl backend (local, Slurm, Grid Engine, HTCondor, LSF,
 * PBS) must show, run against a real system or against fake commands replaying recorded output.
 *
 *   backendConformance('slurm', async () => ({ backend, workRoot, cleanup }), { timeoutMs: 40_000 });
 *
 * The tests of one suite run in order and share state (the jobs of the first test are used by later ones),
 * so a real system pays for its job start-up only a few times. `makeJob` builds the JobSpecs the suite uses;
 * backend-specific tests may use it too.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Backend,
  JobSpec,
  JobState,
  Resources,
  Submitted,
  TrackedJob,
} from '../../src/backends/types.js';

export interface ConformanceContext {
  backend: Backend;
  /** A directory the suite may write to (job work dirs, outputs, exit-code files); must be visible to jobs. */
  workRoot: string;
  cleanup?: () => Promise<void>;
}

export interface ConformanceSupports {
  /** Cancel of a running job (default true). */
  cancelRunning?: boolean;
  /** The failed state carries the job's exit code (default true). */
  failExitCode?: boolean;
  /** `find(names)` (default true). */
  find?: boolean;
  /** Jobs' stdout/stderr land in the JobSpec paths (default true). */
  outputFiles?: boolean;
  /** `inFlight()` counts a running job (default true). */
  inFlight?: boolean;
}

export interface ConformanceOptions {
  /** Longest wait for one job state change, in ms (default 60 000). */
  timeoutMs?: number;
  /** Interval between status polls, in ms (default 500). */
  pollMs?: number;
  supports?: ConformanceSupports;
  /** Resources given to every job of the suite. */
  resources?: Resources;
  /**
   * A well-formed native id that the system does not know (never submitted, or long forgotten), e.g. `999999`
   * for Slurm. Used for "gone" jobs; the gone-job and cancel-unknown tests are skipped without it.
   */
  unknownId?: string;
  /** Registers the suite as skipped with this reason (e.g. "needs root"). */
  skip?: string;
}

/** Builds a JobSpec whose work dir, stdout, stderr and exit-code file are under `workRoot/<name>/` (created). */
export function makeJob(
  workRoot: string,
  name: string,
  command: string,
  extra: Partial<JobSpec> = {},
): JobSpec {
  const workDir = path.join(workRoot, name);
  mkdirSync(workDir, { recursive: true });
  return {
    name,
    command,
    workDir,
    stdout: path.join(workDir, 'stdout.txt'),
    stderr: path.join(workDir, 'stderr.txt'),
    exitCodeFile: path.join(workDir, 'exitcode'),
    env: {},
    resources: {},
    ...extra,
  };
}

export function track(job: JobSpec, sub: Submitted, submittedAt = Date.now()): TrackedJob {
  return { id: sub.id, name: job.name, exitCodeFile: job.exitCodeFile, submittedAt };
}

export const TERMINAL: ReadonlySet<JobState['state']> = new Set(['done', 'failed', 'cancelled']);

/**
 * Polls `status(jobs)` (one call per poll for all jobs) until `until` holds for every job; returns the last
 * answer. Every answer must carry an entry for every job. Throws with the last states on timeout.
 */
export async function waitFor(
  backend: Backend,
  jobs: TrackedJob[],
  until: (s: JobState) => boolean,
  timeoutMs: number,
  pollMs = 500,
): Promise<Map<string, JobState>> {
  const deadline = Date.now() + timeoutMs;
  let last = new Map<string, JobState>();
  for (;;) {
    last = await backend.status(jobs);
    for (const j of jobs) {
      if (!last.has(j.id)) throw new Error(`status() has no entry for ${j.id} (${j.name})`);
    }
    if (jobs.every((j) => until(last.get(j.id) as JobState))) return last;
    if (Date.now() > deadline) {
      const states = jobs.map((j) => `${j.name}=${JSON.stringify(last.get(j.id))}`).join(', ');
      throw new Error(`timed out after ${timeoutMs} ms waiting for jobs: ${states}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function backendConformance(
  label: string,
  setup: () => Promise<ConformanceContext>,
  opts: ConformanceOptions = {},
): void {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const pollMs = opts.pollMs ?? 500;
  const sup: Required<ConformanceSupports> = {
    cancelRunning: true,
    failExitCode: true,
    find: true,
    outputFiles: true,
    inFlight: true,
    ...opts.supports,
  };
  const resources = opts.resources ?? {};
  const testTimeout = timeoutMs + 20_000;

  if (opts.skip !== undefined) {
    describe.skip(`backend conformance: ${label} (skipped: ${opts.skip})`, () => {
      it('skipped', () => undefined);
    });
    return;
  }

  describe(`backend conformance: ${label}`, () => {
    let ctx: ConformanceContext | undefined;
    const token = randomBytes(3).toString('hex');
    const nm = (key: string): string => `rc.conf${token}.${label.replace(/[^A-Za-z0-9_-]/g, '_')}.${key}.a1`;
    const get = (): ConformanceContext => {
      if (!ctx) throw new Error('conformance setup did not complete');
      return ctx;
    };

    // The batch of the first test: four quick successes and one `exit 3`, all with the same resources.
    let batch: JobSpec[] = [];
    let tracked: TrackedJob[] = [];
    let final = new Map<string, JobState>();

    beforeAll(async () => {
      ctx = await setup();
    }, 180_000);

    afterAll(async () => {
      if (!ctx) return;
      await ctx.backend.close();
      await ctx.cleanup?.();
    }, 120_000);

    it('submits many jobs in one call: one distinct id per job', async () => {
      const { backend, workRoot } = get();
      batch = [0, 1, 2, 3].map((i) =>
        makeJob(workRoot, nm(`ok${i}`), `echo out-${i}; echo err-${i} >&2; echo "$RUNCTRL_TEST_VAR"`, {
          resources,
          env: { RUNCTRL_TEST_VAR: `v${i} with 'quotes'` },
        }),
      );
      batch.push(makeJob(workRoot, nm('fail3'), 'echo failing; exit 3', { resources }));
      const res = await backend.submit(batch);
      expect(res.rejected).toEqual([]);
      expect(res.deferred).toEqual([]);
      expect(res.submitted.map((s) => s.name).sort()).toEqual(batch.map((j) => j.name).sort());
      const ids = res.submitted.map((s) => s.id);
      expect(new Set(ids).size).toBe(batch.length);
      for (const id of ids) expect(typeof id === 'string' && id.length > 0).toBe(true);
      const byName = new Map(res.submitted.map((s) => [s.name, s]));
      tracked = batch.map((j) => track(j, byName.get(j.name) as Submitted));
    });

    it(
      'one status() call answers for all jobs; they end done (exit 0) and failed (exit 3)',
      async () => {
        const { backend } = get();
        expect(tracked.length).toBe(5);
        final = await waitFor(backend, tracked, (s) => TERMINAL.has(s.state), timeoutMs, pollMs);
        for (const t of tracked.slice(0, 4)) {
          const s = final.get(t.id);
          expect(s?.state, `${t.name}: ${JSON.stringify(s)}`).toBe('done');
          expect(s?.exitCode ?? 0).toBe(0);
        }
        const failed = final.get((tracked[4] as TrackedJob).id);
        expect(failed?.state, JSON.stringify(failed)).toBe('failed');
        if (sup.failExitCode) expect(failed?.exitCode).toBe(3);
        // A finished job's state is stable.
        const again = await backend.status(tracked);
        for (const t of tracked) expect(again.get(t.id)?.state).toBe(final.get(t.id)?.state);
      },
      testTimeout,
    );

    it.runIf(sup.outputFiles)('writes stdout, stderr and the exit-code file to the given paths', () => {
      expect(tracked.length).toBe(5);
      batch.slice(0, 4).forEach((j, i) => {
        const out = readFileSync(j.stdout, 'utf8');
        expect(out).toContain(`out-${i}`);
        expect(out).toContain(`v${i} with 'quotes'`);
        expect(out).not.toContain(`err-${i}`);
        expect(readFileSync(j.stderr, 'utf8')).toContain(`err-${i}`);
        expect(readFileSync(j.exitCodeFile, 'utf8').trim()).toBe('0');
      });
      const f = batch[4] as JobSpec;
      expect(readFileSync(f.stdout, 'utf8')).toContain('failing');
      expect(readFileSync(f.exitCodeFile, 'utf8').trim()).toBe('3');
    });

    it.runIf(opts.unknownId !== undefined)(
      'a job the system does not list is unknown without evidence, and resolved by its exit-code file',
      async () => {
        const { backend, workRoot } = get();
        const id = opts.unknownId as string;
        const gone = makeJob(workRoot, nm('gone'), 'true');
        const t: TrackedJob = {
          id,
          name: gone.name,
          exitCodeFile: gone.exitCodeFile,
          submittedAt: Date.now() - 60_000,
        };
        const alongside = tracked.slice(0, 1);
        let res = await backend.status([...alongside, t]);
        expect(res.get(id)?.state, JSON.stringify(res.get(id))).toBe('unknown');
        if (alongside[0]) expect(res.get(alongside[0].id)?.state).toBe('done');
        writeFileSync(gone.exitCodeFile, '3\n');
        res = await backend.status([t]);
        expect(res.get(id)).toMatchObject({ state: 'failed', exitCode: 3 });
        writeFileSync(gone.exitCodeFile, '0\n');
        res = await backend.status([t]);
        expect(res.get(id)?.state).toBe('done');
      },
    );

    // A long job for find / inFlight / cancel.
    let sleeper: JobSpec | undefined;
    let sleeperT: TrackedJob | undefined;

    it(
      'a long job runs; find(names) finds it by name; inFlight counts it',
      async () => {
        const { backend, workRoot } = get();
        sleeper = makeJob(workRoot, nm('sleeper'), 'echo started; sleep 120', { resources });
        const res = await backend.submit([sleeper]);
        expect(res.submitted.length, JSON.stringify(res)).toBe(1);
        sleeperT = track(sleeper, res.submitted[0] as Submitted);
        const st = await waitFor(backend, [sleeperT], (s) => s.state === 'running', timeoutMs, pollMs);
        expect(st.get(sleeperT.id)?.state).toBe('running');
        if (sup.find) {
          const found = await backend.find([sleeper.name, nm('never-submitted')]);
          expect(found).toEqual([{ name: sleeper.name, id: sleeperT.id }]);
          expect(await backend.find([])).toEqual([]);
        }
        if (sup.inFlight) expect(await backend.inFlight()).toBeGreaterThanOrEqual(1);
      },
      testTimeout,
    );

    it.runIf(sup.find)('find(names) finds the jobs of an earlier submission (reconciliation)', async () => {
      const { backend } = get();
      expect(tracked.length).toBe(5);
      const names = batch.map((j) => j.name);
      const found = await backend.find(names);
      // Finished jobs may already be forgotten by the system; those it still knows must carry the right id.
      const ids = new Map(tracked.map((t) => [t.name, t.id]));
      for (const f of found) expect(f.id).toBe(ids.get(f.name));
      expect(new Set(found.map((f) => f.name)).size).toBe(found.length);
    });

    it(
      'cancel of a running job ends it as cancelled (or failed with 143)',
      async () => {
        const { backend } = get();
        if (!sleeperT) throw new Error('no running job from the previous test');
        const t = sleeperT;
        if (!sup.cancelRunning) {
          await backend.cancel([t.id]);
          return;
        }
        await backend.cancel([t.id]);
        const st = await waitFor(backend, [t], (s) => TERMINAL.has(s.state), timeoutMs, pollMs);
        const s = st.get(t.id);
        const ok = s?.state === 'cancelled' || (s?.state === 'failed' && s.exitCode === 143);
        expect(ok, JSON.stringify(s)).toBe(true);
      },
      testTimeout,
    );

    it('cancel of finished and unknown ids is not an error', async () => {
      const { backend } = get();
      const ids = tracked.map((t) => t.id);
      if (sleeperT) ids.push(sleeperT.id);
      if (opts.unknownId !== undefined) ids.push(opts.unknownId);
      await backend.cancel(ids);
      await backend.cancel([]);
      const res = await backend.status(tracked);
      for (const t of tracked) expect(res.get(t.id)?.state).toBe(final.get(t.id)?.state);
    });

    it('close() is idempotent', async () => {
      const { backend } = get();
      await backend.close();
      await backend.close();
    });
  });
}
