/**
 * Run × workflow states held compactly: per workflow, columns in typed arrays (run, status, attempt, tries,
 * time) and one string per pair only where outputs or a reason exist, instead of an object per pair. It is a
 * Map<string, RunState> keyed by stateKey(run, workflow), so the pass and the planner read and update it as
 * before; get() and iteration build the RunState objects on demand.
 *
 * Pairs may arrive with their status only and the other columns of a whole batch behind a loader (a snapshot
 * chunk's, still compressed): the batch is decoded the first time one of its pairs is read in full, so a pass
 * that needs the statuses of every pair and the rest of a few decodes only the chunks it touches.
 */
import { joinOutputs, splitOutputs } from './outputs.js';
import { stateKey, type RunState } from './state.js';
import { RUN_STATUSES, type RunStatus } from './status.js';

/** run, index in RUN_STATUSES, attempt, tries, outputs (one per line), reason, time (Unix ms), provenance. */
export type StateRecord = [number, number, number, number, string, string, number, string];

/**
 * The other columns of a batch of pairs, in the order of its runs: attempt, tries, outputs (one per line),
 * reason, time, provenance.
 */
export interface RestOfBatch {
  attempt: ArrayLike<number>;
  tries: ArrayLike<number>;
  outputs: ArrayLike<string>;
  reason: ArrayLike<string>;
  time: ArrayLike<number>;
  inputsFrom: ArrayLike<string>;
}

/**
 * Run → slot of a workflow's columns: a dense index (4 bytes per run number of the covered range) while the runs
 * are dense enough, as they are in a campaign; a Map otherwise.
 */
class Slots {
  private base = 0;
  private index: Int32Array | undefined = new Int32Array(0);
  private map: Map<number, number> | undefined;

  get(run: number): number | undefined {
    if (this.map) return this.map.get(run);
    const v = this.index?.[run - this.base] ?? 0;
    return v > 0 ? v - 1 : undefined;
  }

  has(run: number): boolean {
    return this.get(run) !== undefined;
  }

  set(run: number, slot: number, count: number): void {
    if (!this.map && !this.fits(run, count)) this.toMap();
    if (this.map) this.map.set(run, slot);
    else if (this.index) this.index[run - this.base] = slot + 1;
  }

  /** Grows the dense index to cover run, unless that makes it too sparse for `count` runs. */
  private fits(run: number, count: number): boolean {
    const ix = this.index ?? new Int32Array(0);
    if (ix.length > 0 && run >= this.base && run < this.base + ix.length) return true;
    const lo = ix.length === 0 ? run : Math.min(this.base, run);
    const hi = ix.length === 0 ? run : Math.max(this.base + ix.length - 1, run);
    const span = hi - lo + 1;
    if (!Number.isSafeInteger(run) || span > 8 * count + 4096) return false;
    const cap = Math.min(Math.max(span * 2, 64), 8 * count + 4096);
    const from = run < this.base || ix.length === 0 ? Math.max(lo - (cap - span), 0) : lo;
    const next = new Int32Array(Math.max(cap, hi - from + 1));
    if (ix.length > 0) next.set(ix, this.base - from);
    this.index = next;
    this.base = from;
    return run - from >= 0;
  }

  private toMap(): void {
    const m = new Map<number, number>();
    const ix = this.index ?? new Int32Array(0);
    for (let i = 0; i < ix.length; i++) {
      const v = ix[i] ?? 0;
      if (v > 0) m.set(this.base + i, v - 1);
    }
    this.map = m;
    this.index = undefined;
  }
}

/**
 * One workflow's pairs. Per slot: run, status, and where the other columns are — in a batch (lazy, pos) or
 * among the slot's own columns (own), which only pairs stored in full have: after a snapshot, the few that
 * changed since it.
 */
class Columns {
  n = 0;
  runs = new Int32Array(16);
  status = new Uint8Array(16);
  /** 0 when a pair's other columns are its own (below), else 1 + the index of its batch in `batches`… */
  lazy = new Int32Array(16);
  /** …and its position in that batch. */
  pos = new Int32Array(16);
  /** 1 + the index of a pair's own columns (0: none yet); the own columns are dense. */
  own = new Int32Array(16);
  private nOwn = 0;
  private attempt = new Int32Array(0);
  private tries = new Int32Array(0);
  private time = new Float64Array(0);
  private readonly outs: string[] = [];
  private readonly whys: string[] = [];
  private readonly froms: string[] = [];
  readonly slot = new Slots();
  private readonly batches: { load?: () => RestOfBatch; rest?: PackedRest }[] = [];

  constructor(readonly workflow: string) {}

  /** Room for `more` slots: the slot columns grow by at least half their size, or to what is needed. */
  reserve(more: number): void {
    const need = this.n + more;
    if (need <= this.runs.length) return;
    const cap = Math.max(need, this.runs.length + (this.runs.length >> 1));
    this.runs = grown(this.runs, cap, (k) => new Int32Array(k));
    this.status = grown(this.status, cap, (k) => new Uint8Array(k));
    this.lazy = grown(this.lazy, cap, (k) => new Int32Array(k));
    this.pos = grown(this.pos, cap, (k) => new Int32Array(k));
    this.own = grown(this.own, cap, (k) => new Int32Array(k));
  }

  /** The index of slot i's own columns, made when it has none. */
  private ownOf(i: number): number {
    const o = (this.own[i] ?? 0) - 1;
    if (o >= 0) return o;
    if (this.nOwn === this.attempt.length) {
      const cap = Math.max(16, this.attempt.length * 2);
      this.attempt = grown(this.attempt, cap, (k) => new Int32Array(k));
      this.tries = grown(this.tries, cap, (k) => new Int32Array(k));
      this.time = grown(this.time, cap, (k) => new Float64Array(k));
    }
    this.own[i] = ++this.nOwn;
    this.outs.push('');
    this.whys.push('');
    this.froms.push('');
    return this.nOwn - 1;
  }

  /** The slot of a run, a new one (true) when the pair is new. */
  private slotOf(run: number): [number, boolean] {
    const i = this.slot.get(run);
    if (i !== undefined) return [i, false];
    this.reserve(1);
    const j = this.n++;
    this.slot.set(run, j, this.n);
    this.runs[j] = run;
    return [j, true];
  }

  /** Stores a state; true when the pair is new. */
  put(s: RunState): boolean {
    const st = RUN_STATUSES.indexOf(s.status);
    const from = s.inputsFrom ?? '';
    return this.putRecord([s.run, st, s.attempt, s.tries, joinOutputs(s.outputs), s.reason, s.time, from]);
  }

  /** Stores a state given as a record (outputs one per line); true when the pair is new. */
  putRecord(r: StateRecord): boolean {
    const [i, fresh] = this.slotOf(r[0]);
    this.status[i] = r[1];
    this.lazy[i] = 0;
    const o = this.ownOf(i);
    this.attempt[o] = r[2];
    this.tries[o] = r[3];
    this.outs[o] = r[4];
    this.whys[o] = r[5];
    this.time[o] = r[6];
    this.froms[o] = r[7];
    return fresh;
  }

  /**
   * Stores pairs with their status only (runs and indexes in RUN_STATUSES); `load` gives their other columns
   * when one of them is first read in full. Returns the number of new pairs.
   */
  putLazy(runs: ArrayLike<number>, statuses: ArrayLike<number>, load: () => RestOfBatch): number {
    const b = this.batches.push({ load });
    this.reserve(runs.length);
    let fresh = 0;
    for (let k = 0; k < runs.length; k++) {
      const [i, isNew] = this.slotOf(runs[k] ?? 0);
      if (isNew) fresh++;
      this.status[i] = statuses[k] ?? 0;
      this.lazy[i] = b;
      this.pos[i] = k;
    }
    return fresh;
  }

  /** The attempt of slot i (its batch decoded if need be), without building the state. */
  attemptAt(i: number): number {
    const b = this.lazy[i] ?? 0;
    const batch = b > 0 ? this.batches[b - 1] : undefined;
    if (batch) return (batch.rest ??= unpackBatch(batch)).attempt[this.pos[i] ?? 0] ?? 0;
    return this.attempt[(this.own[i] ?? 0) - 1] ?? 0;
  }

  /** The provenance of slot i ('' when none), without building the state. */
  inputsFromAt(i: number): string {
    const b = this.lazy[i] ?? 0;
    const batch = b > 0 ? this.batches[b - 1] : undefined;
    if (batch) return (batch.rest ??= unpackBatch(batch)).inputsFrom.at(this.pos[i] ?? 0);
    return this.froms[(this.own[i] ?? 0) - 1] ?? '';
  }

  at(i: number): RunState {
    const b = this.lazy[i] ?? 0;
    const batch = b > 0 ? this.batches[b - 1] : undefined;
    let attempt: number | undefined, tries: number | undefined, time: number | undefined;
    let out: string | undefined, reason: string | undefined, from: string | undefined;
    if (batch) {
      const r = (batch.rest ??= unpackBatch(batch));
      const k = this.pos[i] ?? 0;
      attempt = r.attempt[k];
      tries = r.tries[k];
      time = r.time[k];
      out = r.outputs.at(k);
      reason = r.reason.at(k);
      from = r.inputsFrom.at(k);
    } else {
      const o = (this.own[i] ?? 0) - 1;
      attempt = this.attempt[o];
      tries = this.tries[o];
      time = this.time[o];
      out = this.outs[o];
      reason = this.whys[o];
      from = this.froms[o];
    }
    return {
      run: this.runs[i] ?? 0,
      workflow: this.workflow,
      status: RUN_STATUSES[this.status[i] ?? 0] ?? 'new',
      attempt: attempt ?? 0,
      tries: tries ?? 0,
      outputs: splitOutputs(out ?? ''),
      reason: reason ?? '',
      ...(from ? { inputsFrom: from } : {}),
      time: time ?? 0,
    };
  }
}

/** Strings held as one text and the offsets of their ends (one string instead of one per pair). */
class PackedStrings {
  private readonly text: string;
  private readonly ends: Int32Array;

  constructor(v: ArrayLike<string>) {
    const parts: string[] = [];
    this.ends = new Int32Array(v.length);
    let at = 0;
    for (let k = 0; k < v.length; k++) {
      const x = v[k] ?? '';
      parts.push(x);
      this.ends[k] = at += x.length;
    }
    this.text = parts.join('');
  }

  at(k: number): string {
    return this.text.slice(k > 0 ? (this.ends[k - 1] ?? 0) : 0, this.ends[k] ?? 0);
  }
}

/** A batch's other columns, decoded and packed: typed arrays and packed strings. */
interface PackedRest {
  attempt: Int32Array;
  tries: Int32Array;
  time: Float64Array;
  outputs: PackedStrings;
  reason: PackedStrings;
  inputsFrom: PackedStrings;
}

/** Decodes a batch once (its loader, and the compressed text it holds, are dropped); throws as the loader does. */
function unpackBatch(batch: { load?: () => RestOfBatch }): PackedRest {
  const r = batch.load?.();
  if (!r) throw new Error('a batch of state columns without its loader');
  batch.load = undefined;
  return {
    attempt: Int32Array.from(r.attempt),
    tries: Int32Array.from(r.tries),
    time: Float64Array.from(r.time),
    outputs: new PackedStrings(r.outputs),
    reason: new PackedStrings(r.reason),
    inputsFrom: new PackedStrings(r.inputsFrom),
  };
}

/** A typed array copied into a new one of `cap` elements. */
function grown<T extends Int32Array | Uint8Array | Float64Array>(
  a: T,
  cap: number,
  make: (n: number) => T,
): T {
  const b = make(cap);
  b.set(a);
  return b;
}

function parseKey(key: string): { workflow: string; run: number } | undefined {
  const i = key.lastIndexOf('\u0000');
  if (i < 0) return undefined;
  return { workflow: key.slice(0, i), run: Number(key.slice(i + 1)) };
}

export class StateTable implements Map<string, RunState> {
  private readonly wfs = new Map<string, Columns>();
  private count = 0;
  readonly [Symbol.toStringTag] = 'StateTable';

  static from(states: Iterable<RunState>): StateTable {
    const t = new StateTable();
    for (const s of states) t.put(s);
    return t;
  }

  get size(): number {
    return this.count;
  }

  private columns(workflow: string): Columns {
    let c = this.wfs.get(workflow);
    if (!c) this.wfs.set(workflow, (c = new Columns(workflow)));
    return c;
  }

  /** Stores a state under its own run and workflow. */
  put(s: RunState): void {
    if (this.columns(s.workflow).put(s)) this.count++;
  }

  /**
   * Stores a batch of a workflow's pairs with their statuses (indexes in RUN_STATUSES); `load` decodes their
   * other columns, once, when one of them is first read in full (get, iteration). `load` may throw: the read
   * that needed the batch throws with it.
   */
  putLazy(
    workflow: string,
    runs: ArrayLike<number>,
    statuses: ArrayLike<number>,
    load: () => RestOfBatch,
  ): void {
    this.count += this.columns(workflow).putLazy(runs, statuses, load);
  }

  /** Room for `more` pairs of a workflow (when the count is known ahead, the columns are sized to it). */
  reserve(workflow: string, more: number): void {
    this.columns(workflow).reserve(more);
  }

  /** The status of a pair, without reading the rest of it. */
  statusOf(key: string): RunStatus | undefined {
    const k = parseKey(key);
    const c = k && this.wfs.get(k.workflow);
    const i = k && c?.slot.get(k.run);
    return c && i !== undefined ? RUN_STATUSES[c.status[i] ?? 0] : undefined;
  }

  /** The status and attempt of a pair, without building the state. */
  statusAndAttempt(workflow: string, run: number): { status: RunStatus; attempt: number } | undefined {
    const c = this.wfs.get(workflow);
    const i = c?.slot.get(run);
    if (!c || i === undefined) return undefined;
    return { status: RUN_STATUSES[c.status[i] ?? 0] ?? 'new', attempt: c.attemptAt(i) };
  }

  /** Calls fn with the run, attempt and provenance of each of a workflow's pairs in `status`, building no state. */
  forEachProvenance(
    workflow: string,
    status: RunStatus,
    fn: (run: number, attempt: number, inputsFrom: string) => void,
  ): void {
    const c = this.wfs.get(workflow);
    if (!c) return;
    const want = RUN_STATUSES.indexOf(status);
    for (let i = 0; i < c.n; i++)
      if (c.status[i] === want) fn(c.runs[i] ?? 0, c.attemptAt(i), c.inputsFromAt(i));
  }

  get(key: string): RunState | undefined {
    const k = parseKey(key);
    const c = k && this.wfs.get(k.workflow);
    const i = k && c?.slot.get(k.run);
    return c && i !== undefined ? c.at(i) : undefined;
  }

  has(key: string): boolean {
    const k = parseKey(key);
    return k !== undefined && (this.wfs.get(k.workflow)?.slot.has(k.run) ?? false);
  }

  set(key: string, value: RunState): this {
    const k = parseKey(key);
    this.put(k ? { ...value, workflow: k.workflow, run: k.run } : value);
    return this;
  }

  /** Pairs are never removed from a campaign's state (points are append-only). */
  delete(): boolean {
    return false;
  }

  clear(): void {
    this.wfs.clear();
    this.count = 0;
  }

  *entries(): MapIterator<[string, RunState]> {
    for (const s of this.values()) yield [stateKey(s.run, s.workflow), s];
  }

  *keys(): MapIterator<string> {
    for (const c of this.wfs.values())
      for (let i = 0; i < c.n; i++) yield stateKey(c.runs[i] ?? 0, c.workflow);
  }

  *values(): MapIterator<RunState> {
    for (const c of this.wfs.values()) for (let i = 0; i < c.n; i++) yield c.at(i);
  }

  /** Calls fn with the workflow, run and status of every pair, without building state objects. */
  forEachStatus(fn: (workflow: string, run: number, status: RunStatus) => void): void {
    for (const c of this.wfs.values())
      for (let i = 0; i < c.n; i++) fn(c.workflow, c.runs[i] ?? 0, RUN_STATUSES[c.status[i] ?? 0] ?? 'new');
  }

  /** The states whose status is one of `statuses`, built only for those (the others are skipped unread). */
  *valuesWithStatus(statuses: readonly RunStatus[]): Generator<RunState> {
    const want = new Uint8Array(RUN_STATUSES.length);
    for (const st of statuses) want[RUN_STATUSES.indexOf(st)] = 1;
    for (const c of this.wfs.values())
      for (let i = 0; i < c.n; i++) if (want[c.status[i] ?? 0]) yield c.at(i);
  }

  [Symbol.iterator](): MapIterator<[string, RunState]> {
    return this.entries();
  }

  forEach(fn: (value: RunState, key: string, map: Map<string, RunState>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}

// Over any map of states: a StateTable answers from its columns, without building a state per pair --------

/** Calls fn with the workflow, run and status of every pair. */
export function forEachStatus(
  states: ReadonlyMap<string, RunState>,
  fn: (workflow: string, run: number, status: RunStatus) => void,
): void {
  if (states instanceof StateTable) states.forEachStatus(fn);
  else for (const s of states.values()) fn(s.workflow, s.run, s.status);
}

/** The status of one pair. */
export function statusAt(states: ReadonlyMap<string, RunState>, key: string): RunStatus | undefined {
  return states instanceof StateTable ? states.statusOf(key) : states.get(key)?.status;
}

/** The states whose status is one of `statuses`, built only for those. */
export function statesWithStatus(
  states: ReadonlyMap<string, RunState>,
  statuses: readonly RunStatus[],
): Iterable<RunState> {
  if (states instanceof StateTable) return states.valuesWithStatus(statuses);
  return [...states.values()].filter((s) => statuses.includes(s.status));
}

/** The status and attempt of one pair. */
export function statusAndAttemptAt(
  states: ReadonlyMap<string, RunState>,
  workflow: string,
  run: number,
): { status: RunStatus; attempt: number } | undefined {
  if (states instanceof StateTable) return states.statusAndAttempt(workflow, run);
  const s = states.get(stateKey(run, workflow));
  return s && { status: s.status, attempt: s.attempt };
}

/** The run, attempt and provenance of each of a workflow's pairs in `status`. */
export function forEachProvenance(
  states: ReadonlyMap<string, RunState>,
  workflow: string,
  status: RunStatus,
  fn: (run: number, attempt: number, inputsFrom: string) => void,
): void {
  if (states instanceof StateTable) return states.forEachProvenance(workflow, status, fn);
  for (const s of states.values())
    if (s.workflow === workflow && s.status === status) fn(s.run, s.attempt, s.inputsFrom ?? '');
}
