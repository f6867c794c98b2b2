/**
 * The `snapshot` measurement: a campaign's current state (run × workflow states, registered runs, latest job
 * points) kept in InfluxDB, so that any process reads it plus the points written since its watermark instead of
 * the whole history (README, "InfluxDB schema", "Snapshots").
 *
 * A snapshot is one generation (`gen`): data chunks (tag part=data, ≤ CHUNK_CHARS characters of JSON each, far
 * below InfluxDB's 64 KB string limit) written first, then a head point (part=head) written last, carrying the
 * chunk count, the sha256 of the chunks and the schema version. Without its head a generation is invisible;
 * a head whose chunks do not add up to its checksum is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { JobRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { isJobStatus, isRunStatus, RUN_STATUSES } from '../domain/status.js';
import { int, type PointSpec } from './lineproto.js';

export const SNAPSHOT = 'snapshot';
/** Bumped whenever the chunk encoding or the meaning of a stored point changes: older snapshots are stale. */
export const SNAPSHOT_SCHEMA = 1;
const CHUNK_CHARS = 20_000;

export interface CampaignState {
  states: Map<string, RunState>;
  registered: Map<number, RegisteredRun>;
  jobs: Map<string, JobRecord>;
}

export interface SnapshotHead {
  gen: string;
  schema: number;
  /** Unix ms at which the read the snapshot holds began: every point older than it was folded in. */
  watermark: number;
  /** Unix ms of the first data chunk; the head's own time closes the range. */
  first: number;
  time: number;
  chunks: number;
  sum: string;
  states: number;
  runs: number;
  jobs: number;
}

type StateRec = [number, number, number, number, string, string, number];
type JobRec = (string | number | null)[];
type Chunk = { k: 's'; w: string; v: StateRec[] } | { k: 'r'; v: RegisteredRun[] } | { k: 'j'; v: JobRec[] };

const JOB_KEYS = [
  'campaign',
  'workflow',
  'name',
  'unit',
  'runs',
  'attempt',
  'status',
  'backend',
  'nativeId',
  'stdout',
  'stderr',
  'exitCodeFile',
  'outputFile',
  'exitCode',
  'outputs',
  'reason',
  'submittedAt',
  'unknownSince',
  'heldSince',
  'time',
] as const satisfies readonly (keyof JobRecord)[];

export class SnapshotCorrupt extends Error {}

/** Splits records into chunks of at most CHUNK_CHARS characters of JSON (one record may exceed it alone). */
function* chunked<T>(items: Iterable<T>, make: (v: T[]) => Chunk): Generator<string> {
  let part: T[] = [];
  let chars = 0;
  for (const it of items) {
    const n = JSON.stringify(it).length;
    if (part.length > 0 && chars + n > CHUNK_CHARS) {
      yield JSON.stringify(make(part));
      part = [];
      chars = 0;
    }
    part.push(it);
    chars += n + 1;
  }
  if (part.length > 0) yield JSON.stringify(make(part));
}

function stateRec(s: RunState): StateRec {
  return [s.run, RUN_STATUSES.indexOf(s.status), s.attempt, s.tries, s.outputs.join(','), s.reason, s.time];
}

/** The JSON chunks of a campaign state, in order. */
export function encodeChunks(st: CampaignState): string[] {
  const byWf = new Map<string, StateRec[]>();
  for (const s of st.states.values()) {
    let l = byWf.get(s.workflow);
    if (!l) byWf.set(s.workflow, (l = []));
    l.push(stateRec(s));
  }
  const out: string[] = [];
  for (const [w, recs] of byWf) out.push(...chunked(recs, (v) => ({ k: 's', w, v })));
  out.push(...chunked(st.registered.values(), (v) => ({ k: 'r', v })));
  const jobs = [...st.jobs.values()].map((j) =>
    JOB_KEYS.map((k) => (k === 'runs' ? j.runs.join(',') : k === 'outputs' ? j.outputs.join(',') : j[k])),
  );
  out.push(...chunked(jobs, (v) => ({ k: 'j', v })));
  return out;
}

export function checksum(chunks: readonly string[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c).update('\n');
  return h.digest('hex');
}

export function newGeneration(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function chunkPoints(campaign: string, gen: string, chunks: readonly string[]): PointSpec[] {
  return chunks.map((data, seq) => ({
    measurement: SNAPSHOT,
    tags: { campaign, part: 'data' },
    fields: { gen, seq: int(seq), data },
    key: seq + 1,
  }));
}

export function headPoint(campaign: string, h: Omit<SnapshotHead, 'time'>): PointSpec {
  return {
    measurement: SNAPSHOT,
    tags: { campaign, part: 'head' },
    fields: {
      gen: h.gen,
      schema: int(h.schema),
      watermark: int(h.watermark),
      first: int(h.first),
      chunks: int(h.chunks),
      sum: h.sum,
      states: int(h.states),
      runs: int(h.runs),
      jobs: int(h.jobs),
    },
    key: 0,
  };
}

const split = (s: string): string[] => (s === '' ? [] : s.split(','));

function decodeState(w: string, r: StateRec): RunState {
  const status = RUN_STATUSES[r[1]];
  if (status === undefined || !isRunStatus(status)) throw new SnapshotCorrupt(`bad status index ${r[1]}`);
  return {
    run: r[0],
    workflow: w,
    status,
    attempt: r[2],
    tries: r[3],
    outputs: split(r[4]),
    reason: r[5],
    time: r[6],
  };
}

function decodeJobRec(r: JobRec): JobRecord {
  const o: Record<string, unknown> = {};
  JOB_KEYS.forEach((k, i) => (o[k] = r[i]));
  const j = o as unknown as JobRecord & { runs: unknown; outputs: unknown };
  if (!isJobStatus(String(j.status)) || typeof j.runs !== 'string' || typeof j.outputs !== 'string')
    throw new SnapshotCorrupt(`bad job record ${String(j.name)}`);
  return { ...j, runs: split(j.runs).map(Number), outputs: split(j.outputs) };
}

/** The state held by verified chunks (in seq order). Throws SnapshotCorrupt on anything unexpected. */
export function decodeChunks(chunks: readonly string[]): CampaignState {
  const st: CampaignState = { states: new Map(), registered: new Map(), jobs: new Map() };
  for (const text of chunks) {
    const c = JSON.parse(text) as Chunk;
    if (c.k === 's') {
      for (const r of c.v) st.states.set(`${c.w}\u0000${r[0]}`, decodeState(c.w, r));
    } else if (c.k === 'r') {
      for (const r of c.v) st.registered.set(r.run, r);
    } else if (c.k === 'j') {
      for (const r of c.v) {
        const j = decodeJobRec(r);
        st.jobs.set(j.name, j);
      }
    } else throw new SnapshotCorrupt('unknown chunk kind');
  }
  return st;
}
