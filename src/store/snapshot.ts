/**
 * The `snapshot` measurement: a campaign's current state (run × workflow states, registered runs, latest job
 * points) kept in InfluxDB, so that any process reads it plus the points written since its watermark instead of
 * the whole history (README, "InfluxDB schema", "Snapshots").
 *
 * A snapshot is one generation (`gen`): data chunks (tag part=data, ≤ CHUNK_CHARS characters of JSON each, far
 * below InfluxDB's 64 KB string limit) written first, then a head point (part=head) written last, carrying the
 * chunk count, the sha256 of the chunks and the schema version. Without its head a generation is invisible;
 * a head whose chunks do not add up to its checksum is refused. A chunk is base64 of deflated JSON.
 *
 * State chunks are columns (schema 5: outputs one per line, and the provenance column): a first part with the runs (first one, then differences) and the statuses
 * (one digit per pair), then a part with the other columns, which `list` (decodeStatuses) does not inflate and
 * a pass inflates only for the chunks it reads in full (StateTable.putLazy). Registered-run chunks are likewise
 * their run numbers, then the records (LazyMap.putLazy). A chunk holds at most CHUNK_ITEMS pairs or runs, so
 * that reading a few of them in full decodes little.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { JobRecord } from '../domain/jobs.js';
import { isFailureClass } from '../domain/retry.js';
import { LazyMap } from '../domain/lazy-map.js';
import { StateTable, type StateRecord } from '../domain/state-table.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { joinOutputs, splitOutputs } from '../domain/outputs.js';
import { isJobStatus, RUN_STATUSES } from '../domain/status.js';
import { int, type PointSpec } from './lineproto.js';
import { decoder, f, fail } from './malformed.js';

export const SNAPSHOT = 'snapshot';
/** Bumped whenever the chunk encoding or the meaning of a stored point changes: older snapshots are stale. */
export const SNAPSHOT_SCHEMA = 5;
/** Records are gathered up to this many characters of JSON, then deflated and base64-encoded… */
const RAW_CHARS = 400_000;
/** …into a chunk of at most this many characters (InfluxDB keeps string fields up to 64 KB). */
const MAX_CHUNK = 60_000;
/** Pairs or registered runs a state or run chunk holds at most (the unit of lazy decoding). */
const CHUNK_ITEMS = 1_000;

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

type JobRec = (string | number | null)[];
/** Runs (first, then differences), statuses (digits: index in RUN_STATUSES), JSON text of the other columns. */
interface StateColumns {
  runs: number[];
  st: string;
  rest: string;
}
/** attempt, tries, outputs (one per line), reason, time (first, then differences), provenance. */
type RestColumns = [number[], number[], string[], string[], number[], string[]];
/** Registered runs: their run numbers (first, then differences), and the JSON text of their records. */
interface RunColumns {
  runs: number[];
  rest: string;
}
type Chunk = ({ k: 's'; w: string } & StateColumns) | ({ k: 'r' } & RunColumns) | { k: 'j'; v: JobRec[] };

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
  // added later (docs/retry-policy.md): optional, absent (null) in records written before
  'failureClass',
  'memoryMb',
  'walltimeMin',
  'nodeRetries',
] as const satisfies readonly (keyof JobRecord)[];

const OPTIONAL_JOB_KEYS: ReadonlySet<string> = new Set([
  'failureClass',
  'memoryMb',
  'walltimeMin',
  'nodeRetries',
]);

export class SnapshotCorrupt extends Error {}

/**
 * Runs a read of a campaign's state (and what is done with it) once more when a lazily decoded part of its
 * snapshot turned out corrupt: the store has refused that generation (Store.refuseSnapshot), so the second run
 * reads the history.
 */
export async function againIfCorrupt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof SnapshotCorrupt)) throw err;
    return fn();
  }
}

/** A chunk as stored: base64 of the deflated JSON (the repeated paths and names compress well). */
function pack<T>(part: T[], make: (v: T[]) => Chunk): string[] {
  const c = make(part);
  // the kind comes first, in clear, so a reader needing only the states skips the other chunks unread
  const text = c.k + serialize(c);
  if (text.length <= MAX_CHUNK || part.length < 2) return [text];
  const half = Math.ceil(part.length / 2);
  return [...pack(part.slice(0, half), make), ...pack(part.slice(half), make)];
}

/**
 * A state or run chunk is its key columns and its other columns deflated apart (`s` HEAD `.` REST, `.` being
 * outside base64), so that counting or looking up inflates and parses the key columns only; a job chunk is one
 * JSON value.
 */
function serialize(c: Chunk): string {
  const z = (json: string): string => deflateRawSync(json).toString('base64');
  if (c.k === 'j') return z(JSON.stringify(c));
  const { rest, ...head } = c;
  return `${z(JSON.stringify(head))}.${z(rest)}`;
}

const inflate = (b64: string): string => inflateRawSync(Buffer.from(b64, 'base64')).toString('utf8');

/** A chunk decoded, a state chunk's other columns left as stored (`restB64`, deflated). */
function unpack(text: string): { c: Chunk; restB64: string } {
  const dot = text.indexOf('.');
  if (dot < 0) return { c: JSON.parse(inflate(text.slice(1))) as Chunk, restB64: '' };
  const c = JSON.parse(inflate(text.slice(1, dot))) as Chunk;
  if (c.k === 'j') throw new SnapshotCorrupt('job chunks have one part');
  return { c: { ...c, rest: '' }, restB64: text.slice(dot + 1) };
}

/** Splits records into packed chunks of about RAW_CHARS characters of JSON, or `max` records, each. */
function* chunked<T>(items: Iterable<T>, make: (v: T[]) => Chunk, max = Infinity): Generator<string> {
  let part: T[] = [];
  let chars = 0;
  for (const it of items) {
    const n = JSON.stringify(it).length;
    if (part.length > 0 && (chars + n > RAW_CHARS || part.length >= max)) {
      yield* pack(part, make);
      part = [];
      chars = 0;
    }
    part.push(it);
    chars += n + 1;
  }
  if (part.length > 0) yield* pack(part, make);
}

/** Differences of consecutive values (the first one as is): small numbers that print short. */
function deltas(v: readonly number[]): number[] {
  return v.map((x, i) => (i === 0 ? x : x - (v[i - 1] ?? 0)));
}

function undeltas(v: readonly number[]): number[] {
  const out = new Array<number>(v.length);
  let acc = 0;
  for (let i = 0; i < v.length; i++) out[i] = acc = i === 0 ? (v[0] ?? 0) : acc + (v[i] ?? 0);
  return out;
}

function toColumns(recs: readonly StateRecord[]): StateColumns {
  const col = <T>(i: number): T[] => recs.map((r) => r[i] as T);
  const rest: RestColumns = [col(2), col(3), col(4), col(5), deltas(col(6)), col(7)];
  return { runs: deltas(col(0)), st: col<number>(1).join(''), rest: JSON.stringify(rest) };
}

function stateRec(s: RunState): StateRecord {
  const st = RUN_STATUSES.indexOf(s.status);
  return [s.run, st, s.attempt, s.tries, joinOutputs(s.outputs), s.reason, s.time, s.inputsFrom ?? ''];
}

/** The JSON chunks of a campaign state, in order. */
export function encodeChunks(st: CampaignState): string[] {
  const byWf = new Map<string, StateRecord[]>();
  for (const s of st.states.values()) {
    let l = byWf.get(s.workflow);
    if (!l) byWf.set(s.workflow, (l = []));
    l.push(stateRec(s));
  }
  const out: string[] = [];
  for (const [w, recs] of byWf)
    out.push(...chunked(recs, (v) => ({ k: 's', w, ...toColumns(v) }), CHUNK_ITEMS));
  const runColumns = (v: RegisteredRun[]): RunColumns => ({
    runs: deltas(v.map((r) => r.run)),
    rest: JSON.stringify(v),
  });
  out.push(...chunked(st.registered.values(), (v) => ({ k: 'r', ...runColumns(v) }), CHUNK_ITEMS));
  const jobs = [...st.jobs.values()].map((j) =>
    JOB_KEYS.map((k) =>
      k === 'runs' ? j.runs.join(',') : k === 'outputs' ? joinOutputs(j.outputs) : (j[k] ?? null),
    ),
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

/** A head point (any schema): the typed head, or Malformed (the snapshot is then unusable). */
export const decodeSnapshotHead = decoder((r): SnapshotHead => {
  const count = (k: string): number => {
    const v = f.int(r, k, -1);
    return v >= 0 ? v : fail(`field ${k} is not a count`);
  };
  return {
    gen: f.need(r, 'gen'),
    schema: f.int(r, 'schema', -1),
    watermark: f.num(r, 'watermark', -1),
    first: f.num(r, 'first', -1),
    time: f.num(r, 'time', -1),
    chunks: count('chunks'),
    sum: f.need(r, 'sum'),
    states: count('states'),
    runs: count('runs'),
    jobs: count('jobs'),
  };
});

const split = (s: string): string[] => (s === '' ? [] : s.split(','));

const isArray = (v: unknown, n: number, ok: (x: unknown) => boolean): boolean =>
  Array.isArray(v) && v.length === n && v.every(ok);
const isInt = (x: unknown): boolean => Number.isSafeInteger(x);
const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): boolean => typeof x === 'string';

/** The run numbers and status indexes of a state chunk, checked. */
function statusColumns(c: { w: string } & StateColumns): { runs: number[]; st: Uint8Array } {
  const n = Array.isArray(c.runs) ? c.runs.length : -1;
  const ok0 = typeof c.w === 'string' && typeof c.st === 'string' && c.st.length === n && c.runs.every(isInt);
  if (!ok0) throw new SnapshotCorrupt('bad state columns');
  const st = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const d = c.st.charCodeAt(i) - 48;
    if (!(d >= 0 && d < RUN_STATUSES.length)) throw new SnapshotCorrupt('bad status in state columns');
    st[i] = d;
  }
  const runs = undeltas(c.runs);
  if (!runs.every(isInt)) throw new SnapshotCorrupt('bad run in state columns');
  return { runs, st };
}

/** Every column of a state chunk, checked. */
function restColumns(c: StateColumns, n: number): RestColumns {
  const r = JSON.parse(typeof c.rest === 'string' ? c.rest : 'null') as unknown;
  const ok =
    Array.isArray(r) &&
    r.length === 6 &&
    isArray(r[0], n, isInt) &&
    isArray(r[1], n, isInt) &&
    isArray(r[2], n, isStr) &&
    isArray(r[3], n, isStr) &&
    isArray(r[4], n, isNum) &&
    isArray(r[5], n, isStr);
  if (!ok) throw new SnapshotCorrupt('bad state columns');
  return r as RestColumns;
}

/**
 * Stores a state chunk's pairs in the table with their statuses; the other columns stay deflated until one of
 * the chunk's pairs is first read in full (StateTable.putLazy). The chunk's bytes were checked against the head's
 * checksum, so a failure there is a writer's bug or a forged snapshot: it throws SnapshotCorrupt (and calls
 * onCorrupt), never a wrong state.
 */
function putChunk(
  states: StateTable,
  c: { w: string } & StateColumns,
  restB64: string,
  onCorrupt: () => void,
): void {
  const { runs, st } = statusColumns(c);
  states.putLazy(
    c.w,
    runs,
    st,
    corruptAs(onCorrupt, () => {
      const [attempt, tries, outputs, reason, time, inputsFrom] = restColumns(
        { ...c, rest: inflate(restB64) },
        runs.length,
      );
      return { attempt, tries, outputs, reason, time: undeltas(time), inputsFrom };
    }),
  );
}

/**
 * A lazy loader that reports its failure (onCorrupt: the store then refuses the generation, see
 * Store.refuseSnapshot) and throws SnapshotCorrupt, whatever it failed on.
 */
function corruptAs<T>(onCorrupt: () => void, load: () => T): () => T {
  return () => {
    try {
      return load();
    } catch (err) {
      onCorrupt();
      throw err instanceof SnapshotCorrupt ? err : new SnapshotCorrupt(`undecodable chunk: ${String(err)}`);
    }
  };
}

/** Stores a run chunk's registered runs in the map, their records decoded when one of them is first read. */
function putRunChunk(
  registered: LazyMap<number, RegisteredRun>,
  c: RunColumns,
  restB64: string,
  onCorrupt: () => void,
): void {
  const runs = Array.isArray(c.runs) && c.runs.every(isInt) ? undeltas(c.runs) : undefined;
  if (!runs?.every(isInt)) throw new SnapshotCorrupt('bad run column');
  registered.putLazy(
    runs,
    corruptAs(onCorrupt, () => {
      const v = JSON.parse(inflate(restB64)) as unknown;
      const ok =
        Array.isArray(v) &&
        v.length === runs.length &&
        v.every(
          (r: unknown, i) => typeof r === 'object' && r !== null && (r as RegisteredRun).run === runs[i],
        );
      if (!ok) throw new SnapshotCorrupt('bad registered runs');
      return v as RegisteredRun[];
    }),
  );
}

function decodeJobRec(r: JobRec): JobRecord {
  const o: Record<string, unknown> = {};
  JOB_KEYS.forEach((k, i) => {
    const v = r[i];
    if (OPTIONAL_JOB_KEYS.has(k) && (v === null || v === undefined)) return;
    o[k] = v;
  });
  const j = o as unknown as JobRecord & { runs: unknown; outputs: unknown };
  if (!isJobStatus(String(j.status)) || typeof j.runs !== 'string' || typeof j.outputs !== 'string')
    throw new SnapshotCorrupt(`bad job record ${String(j.name)}`);
  const out: JobRecord = { ...j, runs: split(j.runs).map(Number), outputs: splitOutputs(j.outputs) };
  // a failed record from before failure classes (or with an unreadable one) is of class unknown
  if (out.status === 'failed' && !isFailureClass(String(out.failureClass))) out.failureClass = 'unknown';
  else if (out.status !== 'failed') delete out.failureClass;
  return out;
}

/**
 * The state held by verified chunks (in seq order). Throws SnapshotCorrupt on anything unexpected (the other
 * columns of state and run chunks: when first read, see putChunk). With `statusesOnly`, jobs are left out.
 */
export function decodeChunks(
  chunks: readonly string[],
  statusesOnly = false,
  onCorrupt: () => void = () => undefined,
): CampaignState {
  const states = new StateTable();
  const registered = new LazyMap<number, RegisteredRun>();
  const st: CampaignState = { states, registered, jobs: new Map() };
  const parts = chunks.filter((t) => !statusesOnly || !t.startsWith('j')).map(unpack);
  // the pairs of each workflow, counted first, so that its columns are sized once
  const pairs = new Map<string, number>();
  for (const { c } of parts)
    if (c.k === 's') pairs.set(c.w, (pairs.get(c.w) ?? 0) + (typeof c.st === 'string' ? c.st.length : 0));
  for (const [w, n] of pairs) states.reserve(w, n);
  for (const { c, restB64 } of parts) {
    if (c.k === 's') putChunk(states, c, restB64, onCorrupt);
    else if (c.k === 'r') putRunChunk(registered, c, restB64, onCorrupt);
    else if (c.k === 'j') {
      for (const r of c.v) {
        const j = decodeJobRec(r);
        st.jobs.set(j.name, j);
      }
    } else throw new SnapshotCorrupt('unknown chunk kind');
  }
  return st;
}

/** Run × workflow statuses only, per state chunk (runs, index in RUN_STATUSES), for counting without objects. */
export function decodeStatuses(chunks: readonly string[]): { w: string; runs: number[]; st: Uint8Array }[] {
  const out: { w: string; runs: number[]; st: Uint8Array }[] = [];
  for (const text of chunks) {
    if (!text.startsWith('s')) continue;
    const { c } = unpack(text);
    if (c.k !== 's') throw new SnapshotCorrupt('chunk kind does not match its prefix');
    out.push({ w: c.w, ...statusColumns(c) });
  }
  return out;
}

/** The decoded value, or undefined when the (checksummed) chunks still do not decode. */
export function decodeSafely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (
      err instanceof SnapshotCorrupt ||
      err instanceof SyntaxError ||
      err instanceof TypeError ||
      isZlibError(err)
    )
      return undefined;
    throw err;
  }
}

function isZlibError(err: unknown): boolean {
  const code: unknown = err instanceof Error ? Reflect.get(err, 'code') : undefined;
  return typeof code === 'string' && code.startsWith('Z_');
}
