/**
 * Step 3 of a pass: submission intents (a job point without native id, left by a crash between the intent and
 * the record of the id, or by a deferral). Found in the backend → its id is recorded; finished (exit-code file)
 * → its result is recorded; neither → it is submitted again under the same name (returned).
 */
import { readExitCodeFile } from '../backends/common.js';
import type { JobRecord } from '../domain/jobs.js';
import type { PointSpec } from '../store/lineproto.js';
import { jobPoint } from '../store/schema.js';
import { readOutputFile } from './handler.js';
import type { Loaded, PassContext } from './pass.js';
import { groupBy, messageOf } from './util.js';

export type Resubmit = Map<string, { job: JobRecord; l: Loaded }>;

/** The record of an intent whose job already ended (its exit-code file is there). */
async function recovered(j: JobRecord, ec: number, now: number): Promise<JobRecord> {
  const outputs =
    ec === 0 ? [...new Set([...j.outputs, ...(await readOutputFile(j.outputFile))])] : j.outputs;
  return {
    ...j,
    nativeId: 'recovered',
    status: ec === 0 ? 'done' : 'failed',
    exitCode: ec,
    outputs,
    time: now,
    reason: ec === 0 ? '' : `exit code ${ec}`,
  };
}

export async function reconcileIntents(x: PassContext, loaded: Loaded[]): Promise<Resubmit> {
  const toResubmit: Resubmit = new Map();
  const byCampaign = new Map(loaded.map((l) => [l.campaign.name, l]));
  const intents = loaded.flatMap((l) =>
    [...l.jobs.values()].filter((j) => j.status === 'idle' && j.nativeId === ''),
  );
  for (const [backendName, js] of groupBy(intents, (j) => j.backend)) {
    let found: Map<string, string>;
    try {
      const answer = await x.deps.backend(backendName).find(js.map((j) => j.name));
      found = new Map(answer.map((s) => [s.name, s.id]));
    } catch (err) {
      x.report.problems.push(`backend ${backendName}: reconciliation failed: ${messageOf(err)}`);
      continue;
    }
    const points: PointSpec[] = [];
    for (const j of js) {
      const l = byCampaign.get(j.campaign);
      if (!l) continue;
      const id = found.get(j.name);
      const ec = id ? undefined : await readExitCodeFile(j.exitCodeFile);
      let next: JobRecord | undefined;
      if (id) next = { ...j, nativeId: id, time: x.now(), reason: 'recovered after restart' };
      else if (ec !== undefined) next = await recovered(j, ec, x.now());
      else toResubmit.set(j.name, { job: j, l });
      if (next) {
        l.jobs.set(next.name, next);
        points.push(jobPoint(next));
      }
    }
    await x.write(points);
  }
  return toResubmit;
}
