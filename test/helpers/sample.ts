/**
 * The sample campaign (campaigns/rereco_2024.json) as an operator sees it mid-way, written straight to InfluxDB
 * (no jobs run): Run2024C and Run2024D mostly done; ecal-reco of run 386005 failed for good after two attempts
 * (exit 65, a stderr line), so its pi0-mon is blocked and so is the whole ic-combi of Run2024C; a lock holds
 * timing-val from run 386150; a pi0-mon job in flight in Run2024D (its ic-combi waits, not blocked).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { apply } from '../../src/core/apply.js';
import type { Ctx } from '../../src/core/context.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import type { RunStateChange } from '../../src/domain/state.js';
import { jobPoint, lockPoint, runInfoPoint, runStatePoint } from '../../src/store/schema.js';
import { makeRun } from './fixtures.js';
import { ROOT } from './ctx.js';

export const CAMPAIGN = 'rereco_2024';
export const FAILED_RUN = 386005;
export const LOCK_FROM = 386150;
export const RUNS_C = Array.from({ length: 12 }, (_, i) => 386001 + i);
export const RUNS_D = Array.from({ length: 60 }, (_, i) => 386101 + i);

/** A job record of the sample campaign, its files under `jobRoot` (not written). */
export function sampleJob(
  jobRoot: string,
  workflow: string,
  run: number,
  attempt: number,
  o: Partial<JobRecord>,
): JobRecord {
  const dir = path.join(jobRoot, CAMPAIGN, workflow, `r${run}`, `a${attempt}`);
  return {
    campaign: CAMPAIGN,
    workflow,
    name: `rc.${CAMPAIGN}.${workflow}.r${run}.a${attempt}`,
    unit: `r${run}`,
    runs: [run],
    attempt,
    status: 'done',
    backend: 'local',
    nativeId: String(4000 + attempt),
    stdout: path.join(dir, 'stdout'),
    stderr: path.join(dir, 'stderr'),
    exitCodeFile: path.join(dir, 'exit_code'),
    outputFile: '',
    exitCode: 0,
    outputs: [],
    reason: '',
    submittedAt: Date.now() - 60_000 * attempt,
    unknownSince: 0,
    heldSince: 0,
    time: 0,
    ...o,
  };
}

export async function writeSample(ctx: Ctx, jobRoot: string): Promise<void> {
  await apply(ctx, { file: path.join(ROOT, 'campaigns', 'rereco_2024.json') });
  const runs = [
    ...RUNS_C.map((r) => makeRun(r, { era: 'Run2024C' })),
    ...RUNS_D.map((r) => makeRun(r, { era: 'Run2024D' })),
  ];
  await ctx.store.write(runs.map((r) => runInfoPoint(CAMPAIGN, r, ['all', 'stable_beams'])));
  const changes: RunStateChange[] = [];
  const set = (run: number, workflow: string, status: RunStateChange['status'], reason = ''): void =>
    void changes.push({
      run,
      workflow,
      status,
      attempt: status === 'new' ? 0 : 1,
      tries: status === 'new' ? 0 : 1,
      reason,
    });
  for (const r of RUNS_C) {
    const failed = r === FAILED_RUN;
    set(
      r,
      'ecal-reco',
      failed ? 'failed' : 'done',
      failed ? 'attempt 2 failed: exit 65 (exit-code file) (2 tries, max_retries 1)' : '',
    );
    set(r, 'pi0-mon', failed ? 'new' : 'done');
    set(r, 'timing-val', failed ? 'new' : 'done');
    set(r, 'ic-combi', 'new');
  }
  for (const r of RUNS_D) {
    set(r, 'ecal-reco', 'done');
    set(r, 'pi0-mon', r === 386104 ? 'processing' : 'done');
    set(r, 'timing-val', r >= LOCK_FROM ? 'new' : 'done');
    set(r, 'ic-combi', 'new');
  }
  await ctx.store.write(changes.map((c) => runStatePoint(CAMPAIGN, c)));
  // two failed attempts of the failed run: the first is superseded by the second
  for (const attempt of [1, 2]) {
    const j = sampleJob(jobRoot, 'ecal-reco', FAILED_RUN, attempt, {
      status: 'failed',
      exitCode: 65,
      reason: 'exit 65 (exit-code file)',
    });
    mkdirSync(path.dirname(j.stderr), { recursive: true });
    writeFileSync(j.stdout, `ecal-reco run=${FAILED_RUN} attempt=${attempt}\n`);
    writeFileSync(
      j.stderr,
      `reading input\nERROR: cannot open /eos/cms/run_${FAILED_RUN}/raw_00${attempt}.root\n\n`,
    );
    await ctx.store.write([jobPoint(j)]);
  }
  await ctx.store.write([
    jobPoint(sampleJob(jobRoot, 'pi0-mon', 386104, 1, { status: 'running', exitCode: null })),
  ]);
  await ctx.store.write([
    lockPoint({
      campaign: CAMPAIGN,
      workflow: 'timing-val',
      fromRun: LOCK_FROM,
      reason: 'new timing calibration pending',
      locked: true,
      by: 'ana',
    }),
  ]);
}
