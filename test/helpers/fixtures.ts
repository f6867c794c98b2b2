/** Run metadata and small run registries for tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobRecord } from '../../src/domain/jobs.js';
import type { RunInfo } from '../../src/domain/run.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';

/** A global collision run with stable beams, 1 h long, good ECAL; override what the test needs. */
export function makeRun(run: number, over: Partial<RunInfo> = {}): RunInfo {
  return {
    run,
    fill: 9000 + Math.floor(run / 10),
    era: 'Run2024C',
    startTime: 1_714_000_000 + run,
    endTime: 1_714_003_600 + run,
    global: true,
    stableBeams: true,
    runClass: 'Collisions24',
    deliveredLumi: 12.5,
    recordedLumi: 11.9,
    beamEnergy: 6800,
    magnetCurrent: 18164,
    quality: { ecal: true, tracker: true },
    ...over,
  };
}

/**
 * A small registry, written as JSON to a temp dir:
 * - Run2024C 380001–380010: global; even runs stable beams (collisions), odd runs cosmics without beam;
 *   380010 is short (120 s);
 * - Run2024D 381001–381005: global collisions; 381003 is a local run;
 * - Run2024E 382001: one global run.
 */
export function smallRegistry(): { file: string; runs: RunInfo[] } {
  const runs: RunInfo[] = [];
  for (let r = 380001; r <= 380010; r++) {
    const beam = r % 2 === 0;
    runs.push(
      makeRun(r, {
        stableBeams: beam,
        runClass: beam ? 'Collisions24' : 'Cosmics24',
        beamEnergy: beam ? 6800 : 0,
        recordedLumi: beam ? 10 : 0,
        ...(r === 380010 ? { endTime: 1_714_000_000 + r + 120 } : {}),
      }),
    );
  }
  for (let r = 381001; r <= 381005; r++) runs.push(makeRun(r, { era: 'Run2024D', global: r !== 381003 }));
  runs.push(makeRun(382001, { era: 'Run2024E' }));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-reg-'));
  const file = path.join(dir, 'registry.json');
  writeFileSync(file, JSON.stringify(runs));
  return { file, runs };
}

/** A workflow definition running `true` on the local backend, one run per unit; override what the test needs. */
export function workflowSpec(name: string, o: Partial<WorkflowSpec> = {}): WorkflowSpec {
  return {
    name,
    command: 'true',
    backend: 'local',
    resources: {},
    dependsOn: [],
    maxRetries: 1,
    granularity: { kind: 'run' },
    ...o,
  };
}

/** A failed local job rc.c.A.r1.a1 whose stdout, stderr and exit-code file are in the work directory `work`. */
export function makeJob(work: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    campaign: 'c',
    workflow: 'A',
    name: 'rc.c.A.r1.a1',
    unit: 'r1',
    runs: [1],
    attempt: 1,
    status: 'failed',
    backend: 'local',
    nativeId: '7',
    stdout: path.join(work, 'stdout'),
    stderr: path.join(work, 'stderr'),
    exitCodeFile: path.join(work, 'exit_code'),
    outputFile: '',
    exitCode: 3,
    outputs: [],
    reason: 'exit 3',
    submittedAt: 1,
    unknownSince: 0,
    heldSince: 0,
    time: 2,
    ...over,
  };
}
