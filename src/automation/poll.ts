/**
 * Step 4 of a pass: one status query per backend for all its jobs in flight, and the transitions recorded.
 * A job that reported its own end (`runctrl job done`, or the wrapper's end report) since the state was loaded
 * keeps its own word. A wake-up pass polls only the backends that woke it, and takes the exit code of a job that
 * reported its end as that job's answer.
 */
import { stateFromExitCode } from '../backends/common.js';
import type { Backend, JobState, TrackedJob } from '../backends/types.js';
import { isInFlight, type JobRecord } from '../domain/jobs.js';
import type { FailureClass } from '../domain/retry.js';
import type { PointSpec } from '../store/lineproto.js';
import { jobPoint } from '../store/schema.js';
import { readOutputFile } from './handler.js';
import type { Loaded, PassContext, PassOptions, WakeScope } from './pass.js';
import { handlerOutputs } from './units.js';
import { groupBy, messageOf } from './util.js';

/**
 * The failure class of a failed or cancelled job: the backend's word, else `app` for the command's own non-zero
 * exit and `unknown` for a signal (128+N: who sent it is not known) or no exit code.
 */
export function failureClassOf(st: JobState): FailureClass {
  if (st.failureClass) return st.failureClass;
  if (st.state === 'cancelled' || st.exitCode === undefined || st.exitCode === 0) return 'unknown';
  return st.exitCode > 128 && st.exitCode < 160 ? 'unknown' : 'app';
}

/** Job record after the backend's answer, or undefined when nothing changed. */
export function applyNativeState(
  j: JobRecord,
  st: JobState,
  now: number,
  o: Pick<PassOptions, 'lostAfterMs' | 'holdTimeoutMs'>,
): { next?: JobRecord; cancel?: boolean } {
  const base = { ...j, time: now };
  switch (st.state) {
    case 'pending':
      return j.status === 'idle' && j.unknownSince === 0 && j.heldSince === 0
        ? {}
        : { next: { ...base, status: 'idle', unknownSince: 0, heldSince: 0 } };
    case 'running':
      return j.status === 'running' && j.unknownSince === 0 && j.heldSince === 0
        ? {}
        : { next: { ...base, status: 'running', unknownSince: 0, heldSince: 0 } };
    case 'held': {
      const since = j.heldSince || now;
      if (now - since > o.holdTimeoutMs) {
        return {
          next: {
            ...base,
            status: 'failed',
            failureClass: 'unknown',
            reason: `held for over ${Math.round(o.holdTimeoutMs / 1000)} s: ${st.reason ?? 'no reason given'}`,
          },
          cancel: true,
        };
      }
      if (j.heldSince !== 0 && j.unknownSince === 0) return {};
      return {
        next: {
          ...base,
          unknownSince: 0,
          status: j.status === 'running' ? 'running' : 'idle',
          heldSince: since,
          reason: `held: ${st.reason ?? ''}`,
        },
      };
    }
    case 'done':
      return { next: { ...base, status: 'done', exitCode: st.exitCode ?? 0, unknownSince: 0, reason: '' } };
    case 'failed':
    case 'cancelled':
      return {
        next: {
          ...base,
          status: 'failed',
          exitCode: st.exitCode ?? null,
          unknownSince: 0,
          failureClass: failureClassOf(st),
          reason:
            st.state === 'cancelled'
              ? `cancelled${st.reason ? `: ${st.reason}` : ''}`
              : (st.reason ?? `exit code ${st.exitCode ?? '?'}`),
        },
      };
    case 'unknown': {
      const since = j.unknownSince || now;
      if (now - since > o.lostAfterMs) {
        return {
          next: {
            ...base,
            status: 'failed',
            failureClass: 'unknown',
            reason: `lost: not in the queue, no accounting record and no exit-code file for ${Math.round((now - since) / 1000)} s`,
          },
        };
      }
      return j.unknownSince === 0 ? { next: { ...base, unknownSince: since } } : {};
    }
  }
}

interface Answer {
  backend?: Backend;
  js: JobRecord[];
  states: Map<string, JobState>;
}

function tracked(j: JobRecord): TrackedJob {
  return { id: j.nativeId, name: j.name, exitCodeFile: j.exitCodeFile, submittedAt: j.submittedAt };
}

/** Jobs with a native id that are queued or running. */
function jobsInFlight(loaded: Loaded[]): JobRecord[] {
  return loaded.flatMap((l) =>
    [...l.jobs.values()].filter((j) => isInFlight(j) && j.nativeId !== '' && j.nativeId !== 'recovered'),
  );
}

/** One status query per backend (in a wake-up pass: only the backends that woke it). */
async function queryBackends(x: PassContext, js: JobRecord[], only?: ReadonlySet<string>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const [name, list] of groupBy(js, (j) => j.backend)) {
    if (only && !only.has(name)) continue;
    const backend = x.deps.backend(name);
    try {
      answers.push({ backend, js: list, states: await backend.status(list.map(tracked)) });
    } catch (err) {
      x.report.problems.push(
        `backend ${name}: status query failed, jobs left as they are: ${messageOf(err)}`,
      );
    }
  }
  return answers;
}

const UNFINISHED = new Set(['pending', 'running', 'unknown']);

/**
 * Jobs that reported their end: their exit code answers for a backend not polled, and stands over a polled
 * backend that still shows them unfinished.
 */
function withReports(answers: Answer[], js: JobRecord[], wake: WakeScope): void {
  const polled = new Set<string>();
  // a job killed by a signal (128+N) may have been killed by the batch system for its memory or time: its
  // own report cannot tell, so it waits for the backend's word (and failure class) at a later poll
  const ended = (name: string): number | undefined => {
    const ec = wake.ended.get(name);
    return ec !== undefined && ec > 128 && ec < 160 ? undefined : ec;
  };
  for (const a of answers) {
    for (const j of a.js) {
      polled.add(j.name);
      const ec = ended(j.name);
      if (ec !== undefined && UNFINISHED.has(a.states.get(j.nativeId)?.state ?? 'unknown'))
        a.states.set(j.nativeId, stateFromExitCode(ec, 'reported by the job'));
    }
  }
  const rest: Answer = { js: [], states: new Map() };
  for (const j of js) {
    const ec = ended(j.name);
    if (ec === undefined || polled.has(j.name)) continue;
    rest.js.push(j);
    rest.states.set(j.nativeId, stateFromExitCode(ec, 'reported by the job'));
  }
  answers.push(rest);
}

const ENDED = new Set(['done', 'failed', 'cancelled']);

/**
 * Jobs' own reports (`runctrl job …`) written since the pass started (5 s back: a job's host may lag), re-read
 * once per campaign where a job ended: only the points the jobs wrote themselves, not the pass's own.
 */
async function ownReports(x: PassContext, answers: Answer[]): Promise<Map<string, JobRecord>> {
  const ending = answers.flatMap(({ js, states }) =>
    js.filter((j) => ENDED.has(states.get(j.nativeId)?.state ?? '')),
  );
  const reported = new Map<string, JobRecord>();
  for (const c of new Set(ending.map((j) => j.campaign))) {
    const fresh = await x.deps.store.jobs(c, { since: x.report.startedAt - 5_000, selfReported: true });
    for (const [name, j] of fresh) reported.set(name, j);
  }
  return reported;
}

/** A finished job's outputs: what it reported, its output file, and what its handler decides. */
async function withOutputs(x: PassContext, l: Loaded, before: JobRecord, next: JobRecord): Promise<void> {
  const fromFile = await readOutputFile(next.outputFile);
  next.outputs = [...new Set([...before.outputs, ...fromFile])];
  const spec = l.campaign.workflows.find((w) => w.name === before.workflow);
  if (!spec?.handler) return;
  try {
    next.outputs = await handlerOutputs(x.o, l, spec, next);
  } catch (err) {
    x.report.problems.push(`handler of ${before.workflow}: outputs of ${before.name}: ${messageOf(err)}`);
  }
}

/** Applies one backend's answer to its jobs; returns the ids to cancel (held too long). */
async function applyAnswer(
  x: PassContext,
  byCampaign: Map<string, Loaded>,
  a: Answer,
  reported: Map<string, JobRecord>,
  points: PointSpec[],
): Promise<string[]> {
  const cancel: string[] = [];
  for (const j0 of a.js) {
    const l = byCampaign.get(j0.campaign);
    if (!l) continue;
    const fresh = reported.get(j0.name);
    if (fresh && fresh.time > j0.time && (fresh.status === 'done' || fresh.status === 'failed')) {
      l.jobs.set(fresh.name, fresh); // the job's own final word stands
      l.report.transitions++;
      continue;
    }
    const j = fresh && fresh.time > j0.time ? fresh : j0;
    const st = a.states.get(j.nativeId) ?? { state: 'unknown' as const };
    const { next, cancel: c } = applyNativeState(j, st, x.now(), x.o);
    if (c) cancel.push(j.nativeId);
    if (!next) continue;
    if (next.status === 'done') await withOutputs(x, l, j, next);
    l.jobs.set(next.name, next);
    if (next.status !== j.status) l.report.transitions++;
    points.push(jobPoint(next));
  }
  return cancel;
}

export async function pollBackends(
  x: PassContext,
  loaded: Loaded[],
  wake: WakeScope | undefined,
  step: (name: string) => void,
): Promise<void> {
  const inFlight = jobsInFlight(loaded);
  const only = wake?.backends === 'all' ? undefined : wake?.backends;
  const answers = await queryBackends(x, inFlight, only);
  if (wake) withReports(answers, inFlight, wake);
  step('after-status');
  const reported = await ownReports(x, answers);
  const byCampaign = new Map(loaded.map((l) => [l.campaign.name, l]));
  const points: PointSpec[] = [];
  for (const a of answers) {
    const cancel = await applyAnswer(x, byCampaign, a, reported, points);
    if (cancel.length > 0 && !x.o.dryRun && a.backend)
      await a.backend
        .cancel(cancel)
        .catch((err: unknown) => x.report.problems.push(`cancel failed: ${messageOf(err)}`));
  }
  await x.write(points);
}
