/**
 * Work units as jobs: their directories, their environment and JobSpec, and the unit a recorded job processes
 * (to resubmit an intent or ask a handler for outputs). A recorded job keeps the paths it was submitted with,
 * whatever the current working directory or state directory.
 */
import path from 'node:path';
import type { JobSpec, Resources } from '../backends/types.js';
import type { JobRecord } from '../domain/jobs.js';
import { stateKey } from '../domain/state.js';
import type { WorkflowSpec } from '../domain/workflow.js';
import { jobEndLinePrefix } from '../store/jobend.js';
import { checkHandlerOutputs, handlerFor, type UnitInfo } from './handler.js';
import type { Loaded, PassOptions } from './pass.js';

const PLAIN_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/;
/** What path.normalize would change in a POSIX path: `//`, a `.` or `..` component. */
const NOT_NORMAL = /\/\/|(^|\/)\.\.?(\/|$)/;

/**
 * path.join of a directory and plain names (no separator, not `.` or `..`), as campaign, workflow and unit names
 * are: a concatenation, where path.join would normalise the whole path again (thousands of units a pass).
 */
export function joinNames(dir: string, ...names: string[]): string {
  const plain = path.sep === '/' && !NOT_NORMAL.test(dir) && names.every((n) => PLAIN_NAME.test(n));
  if (!plain || dir === '' || names.length === 0) return path.join(dir, ...names);
  return `${dir.endsWith('/') ? dir : `${dir}/`}${names.join('/')}`;
}

export function unitDirs(
  o: PassOptions,
  campaign: string,
  workflow: string,
  unit: string,
  attempt: number,
): { work: string; out: string } {
  return {
    work: joinNames(o.jobRoot, campaign, workflow, unit, `a${attempt}`),
    out: joinNames(o.outputRoot, campaign, workflow, unit),
  };
}

/** The environment of a unit's job (secrets are not in it: see `jobSpecOf`). */
export function unitEnv(
  o: PassOptions,
  j: Pick<JobRecord, 'campaign' | 'workflow' | 'runs' | 'attempt' | 'name' | 'backend'>,
  outdir: string,
  outputFile: string,
  watched: boolean,
): Record<string, string> {
  return {
    ...(o.jobEnv ?? {}),
    RUNCTRL_CAMPAIGN: j.campaign,
    RUNCTRL_WORKFLOW: j.workflow,
    RUNCTRL_RUN: String(j.runs[0] ?? ''),
    RUNCTRL_RUNS: j.runs.join(','),
    RUNCTRL_ATTEMPT: String(j.attempt),
    RUNCTRL_OUTDIR: outdir,
    RUNCTRL_OUTPUT_FILE: outputFile,
    // a backend that wakes the loop by itself (local) needs no end report from its jobs
    ...(o.jobReport && !watched
      ? {
          RUNCTRL_REPORT_URL: o.jobReport.url,
          RUNCTRL_REPORT_LINE: jobEndLinePrefix(j.campaign, j.workflow, j.name),
        }
      : {}),
  };
}

/** The JobSpec of a recorded job (its own paths), with the command and environment given. */
export function jobSpecOf(
  o: PassOptions,
  j: JobRecord,
  command: string,
  env: Record<string, string>,
  spec: WorkflowSpec,
): JobSpec {
  const resources = jobResources(j, spec);
  return {
    name: j.name,
    command,
    workDir: path.dirname(j.exitCodeFile),
    stdout: j.stdout,
    stderr: j.stderr,
    exitCodeFile: j.exitCodeFile,
    env: { ...env, ...limitEnv(resources) },
    ...(o.jobSecretEnv && Object.keys(o.jobSecretEnv).length > 0 ? { secretEnv: o.jobSecretEnv } : {}),
    resources,
  };
}

/**
 * The resources of a recorded job: the workflow's, with the memory and wall time its attempt asked for (a
 * retry's grown ones; a job recorded before attempts kept them asks the workflow's).
 */
export function jobResources(j: Pick<JobRecord, 'memoryMb' | 'walltimeMin'>, spec: WorkflowSpec): Resources {
  return {
    ...spec.resources,
    ...(j.memoryMb !== undefined ? { memoryMb: j.memoryMb } : {}),
    ...(j.walltimeMin !== undefined ? { walltimeMin: j.walltimeMin } : {}),
  };
}

/** The limits a job is given, for its command to read: RUNCTRL_MEMORY_MB, RUNCTRL_WALLTIME_MIN. */
function limitEnv(r: Resources): Record<string, string> {
  return {
    ...(r.memoryMb !== undefined ? { RUNCTRL_MEMORY_MB: String(r.memoryMb) } : {}),
    ...(r.walltimeMin !== undefined ? { RUNCTRL_WALLTIME_MIN: String(r.walltimeMin) } : {}),
  };
}

/** The unit a recorded job processes, rebuilt from the loaded state (its inputs are its dependencies' outputs). */
export function unitOfJob(o: PassOptions, l: Loaded, spec: WorkflowSpec, j: JobRecord): UnitInfo {
  const inputs: Record<string, string[]> = {};
  for (const d of spec.dependsOn)
    inputs[d] = j.runs.flatMap((r) => l.states.get(stateKey(r, d))?.outputs ?? []);
  const first = l.registered.get(j.runs[0] ?? 0);
  return {
    campaign: j.campaign,
    workflow: j.workflow,
    unit: j.unit,
    runs: j.runs,
    attempt: j.attempt,
    era: first?.era ?? '',
    fill: first?.fill ?? 0,
    inputs,
    outdir: unitDirs(o, j.campaign, j.workflow, j.unit, j.attempt).out,
  };
}

/** The outputs a handler module decides for a finished job (default: what the job reported). */
export async function handlerOutputs(
  o: PassOptions,
  l: Loaded,
  spec: WorkflowSpec,
  j: JobRecord,
): Promise<string[]> {
  const handler = await handlerFor(spec);
  if (!handler.outputs) return j.outputs;
  const outputs = await handler.outputs({ ...unitOfJob(o, l, spec, j), reported: j.outputs });
  return [...new Set(checkHandlerOutputs(spec, outputs))];
}
