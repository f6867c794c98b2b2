/**
 * The only code that talks to InfluxDB. Reads are a constant number of queries per campaign; writes are
 * batched line protocol. Returns domain objects; knows nothing of the command line.
 */
import type { Campaign } from '../domain/campaign.js';
import { minMax } from '../domain/selectors.js';
import { UserError } from '../errors.js';
import { StateTable } from '../domain/state-table.js';
import { emptyCounts, RUN_STATUSES, type RunStatus } from '../domain/status.js';
import { InfluxClient, type InfluxOptions, type RequestObserver } from './influx.js';
import { ident, literal } from './influxql.js';
import { encodePoints, serverStampedLine, type PointSpec } from './lineproto.js';
import type { Heartbeat } from '../domain/loop-health.js';
import {
  checksum,
  chunkPoints,
  decodeChunks,
  decodeSafely,
  decodeSnapshotHead,
  decodeStatuses,
  encodeChunks,
  headPoint,
  newGeneration,
  SNAPSHOT,
  SNAPSHOT_SCHEMA,
  type CampaignState,
  type SnapshotHead,
} from './snapshot.js';
import type { JobRecord, LeasePoint, LockRecord } from '../domain/jobs.js';
import {
  isMalformed,
  malformedPoint,
  type Malformed,
  MalformedSet,
  type MalformedPoint,
  type Row,
} from './malformed.js';
import { MalformedWarnings } from './malformed-warn.js';
import {
  decodeCampaign,
  decodeJob,
  decodeHeartbeat,
  decodeLease,
  decodeLock,
  decodeRtype,
  decodeRunInfo,
  decodeRunState,
  decodeWorkflow,
  M,
  SELF_REPORT,
  stateKey,
  type RegisteredRun,
  type RunState,
} from './schema.js';

export interface RunSelection {
  runs?: readonly number[];
  range?: { min: number; max: number };
  workflow?: string;
  /** Only points after this Unix ms (incremental reads). */
  since?: number;
  /** Where the malformed points read (and not superseded by a newer valid one) are added. */
  malformed?: MalformedPoint[];
}

const runEntity = (r: Row): string | undefined =>
  Number.isSafeInteger(r.run) && typeof r.workflow === 'string'
    ? stateKey(r.run as number, r.workflow)
    : undefined;
const pairEntity = (r: Row): string => `${String(r.campaign)}\u0000${String(r.workflow)}`;

export class Store {
  /** Warns of each malformed point once per process (the CLI prints to stderr: Store.onMalformed). */
  readonly warnings: MalformedWarnings;
  /** Snapshot generations found undecodable after their checksum matched (forged): never read again. */
  private readonly refused = new Set<string>();

  constructor(readonly influx: InfluxClient) {
    this.warnings = new MalformedWarnings(influx);
  }

  /** Where warnings of malformed points go (one line each); unset, they are not printed. */
  set onMalformed(sink: ((line: string) => void) | undefined) {
    this.warnings.sink = sink;
  }

  /** Collects the malformed points of a read into `into` and warns of the new ones. */
  private async malformed(set: MalformedSet, into?: MalformedPoint[]): Promise<void> {
    if (set.size === 0) return;
    const l = set.list();
    into?.push(...l);
    await this.warnings.warn(l);
  }

  static open(opts: InfluxOptions): Store {
    return new Store(new InfluxClient(opts));
  }

  get db(): string {
    return this.influx.db;
  }

  async databaseExists(): Promise<boolean> {
    return this.influx.databaseExists();
  }

  /** Observes every request to InfluxDB (metrics); returns the function that stops it. */
  observe(fn: RequestObserver): () => void {
    return this.influx.observe(fn);
  }

  /** Queries sent so far (reports and benchmarks count a pass's queries). */
  get queryCount(): number {
    return this.influx.stats.queries;
  }

  async ensureDatabase(): Promise<void> {
    await this.influx.createDatabase();
  }

  /** Writes points made lazily (e.g. by a generator), so a large write never holds them all. */
  async writeStream(
    points: Iterable<PointSpec>,
    total: number,
    onProgress?: (written: number, total: number) => void,
  ): Promise<number> {
    return this.influx.writePoints(points, onProgress ? (n) => onProgress(n, total) : undefined);
  }

  /** Writes points (batched, ~5000 lines a request). Returns the millisecond stamped on them. */
  async write(
    points: readonly PointSpec[],
    onProgress?: (written: number, total: number) => void,
  ): Promise<number> {
    if (points.length === 0) return Date.now();
    // encodes the next batch of ~5000 lines while the previous one is on the wire; batches go in order
    return this.influx.writePoints(points, onProgress ? (n) => onProgress(n, points.length) : undefined);
  }

  /** All campaigns (deleted ones left out), with run types and workflows: 3 queries. */
  async campaigns(only?: string, malformed?: MalformedPoint[]): Promise<Campaign[]> {
    const where = only === undefined ? '' : ` WHERE "campaign" = $c`;
    const params: Record<string, string> = only === undefined ? {} : { c: only };
    const [cRows, tRows, wRows] = await Promise.all([
      this.influx.rows(`SELECT * FROM ${ident(M.campaign)}${where} GROUP BY "campaign"`, params),
      this.influx.rows(`SELECT * FROM ${ident(M.rtype)}${where} GROUP BY "campaign", "rtype"`, params),
      this.influx.rows(`SELECT * FROM ${ident(M.workflow)}${where} GROUP BY "campaign", "workflow"`, params),
    ]);
    const byName = new Map<string, Campaign>();
    const bad = new MalformedSet();
    const lastCampaign = lastValid(cRows, decodeCampaign, [M.campaign, 'campaign'], bad, (r) =>
      String(r.campaign),
    );
    const lastRtype = lastValid(
      tRows,
      decodeRtype,
      [M.rtype, 'campaign', 'rtype'],
      bad,
      (r) => `${String(r.campaign)}\u0000${String(r.rtype)}`,
    );
    const lastWf = lastValid(wRows, decodeWorkflow, [M.workflow, 'campaign', 'workflow'], bad, pairEntity);
    await this.malformed(bad, malformed);
    for (const c of lastCampaign.values()) {
      if (c.deleted) continue;
      byName.set(c.name, {
        name: c.name,
        description: c.description,
        createdAt: c.createdAt,
        ...(c.priority !== 0 ? { priority: c.priority } : {}),
        rtypes: [],
        workflows: [],
      });
    }
    for (const t of lastRtype.values()) {
      const c = byName.get(t.campaign);
      if (!c || t.deleted) continue;
      c.rtypes.push({ name: t.name, filter: t.filter, workflows: t.workflows, suspended: t.suspended });
    }
    for (const w of lastWf.values()) {
      const c = byName.get(w.campaign);
      if (!c || w.deleted) continue;
      c.workflows.push(w.spec);
    }
    for (const c of byName.values()) {
      c.rtypes.sort((a, b) => a.name.localeCompare(b.name));
      c.workflows.sort((a, b) => a.name.localeCompare(b.name));
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One campaign, or a UserError naming the known ones. */
  async campaign(name: string): Promise<Campaign> {
    const [c] = await this.campaigns(name);
    if (c) return c;
    const known = (await this.campaigns()).map((x) => x.name);
    throw new UserError(
      `unknown campaign '${name}' in database '${this.db}'${known.length ? ` (known: ${known.join(', ')})` : ' (it has no campaigns)'}: create it with 'runctrl --db ${this.db} create --campaign ${name}'`,
    );
  }

  private runWhere(
    campaign: string,
    sel: RunSelection,
  ): { where: string; params: Record<string, string | number> } {
    const conds = ['"campaign" = $c'];
    const params: Record<string, string | number> = { c: campaign };
    if (sel.workflow !== undefined) {
      conds.push('"workflow" = $w');
      params.w = sel.workflow;
    }
    const mm = sel.range ?? (sel.runs ? minMax(sel.runs) : undefined);
    const lo = mm?.min;
    const hi = mm?.max;
    if (lo !== undefined) conds.push(`"run" >= ${Math.trunc(lo)}`);
    if (hi !== undefined) conds.push(`"run" <= ${Math.trunc(hi)}`);
    if (sel.since !== undefined) conds.push(`time > ${Math.trunc(sel.since)}ms`);
    return { where: conds.join(' AND '), params };
  }

  /** Current status of run × workflow pairs of a campaign: one query. */
  async runStates(campaign: string, sel: RunSelection = {}): Promise<Map<string, RunState>> {
    const { where, params } = this.runWhere(campaign, sel);
    const only = sel.runs ? new Set(sel.runs) : undefined;
    const out = new Map<string, RunState>();
    const bad = new MalformedSet();
    // folded as the rows stream in: the answer is never held whole; a malformed point leaves the pair's last
    // valid state in place, a newer valid point supersedes it
    await this.influx.eachRow(
      `SELECT "run", "status", "attempt", "tries", "outputs", "output_list", "reason", "inputs_from" FROM ${ident(M.run)} WHERE ${where} GROUP BY "workflow"`,
      params,
      (r) => {
        const s = decodeRunState(r);
        if (isMalformed(s)) {
          const p = malformedPoint(M.run, r, { campaign, workflow: undefined }, s.why, runEntity);
          if (!only || p.run === undefined || only.has(p.run)) bad.add(p);
          return;
        }
        const k = stateKey(s.run, s.workflow);
        bad.valid(k);
        if (!only || only.has(s.run)) out.set(k, s);
      },
    );
    await this.malformed(bad, sel.malformed);
    return out;
  }

  /** Registered runs of a campaign (latest metadata per run): one query. */
  async registeredRuns(campaign: string, sel: RunSelection = {}): Promise<Map<number, RegisteredRun>> {
    const { where, params } = this.runWhere(campaign, { ...sel, workflow: undefined });
    const only = sel.runs ? new Set(sel.runs) : undefined;
    const out = new Map<number, RegisteredRun>();
    const bad = new MalformedSet();
    await this.influx.eachRow(`SELECT * FROM ${ident(M.runinfo)} WHERE ${where}`, params, (r) => {
      const info = decodeRunInfo(r);
      if (isMalformed(info)) {
        const p = malformedPoint(M.runinfo, r, { campaign }, info.why, (x) =>
          Number.isSafeInteger(x.run) ? String(x.run) : undefined,
        );
        if (!only || p.run === undefined || only.has(p.run)) bad.add(p);
        return;
      }
      bad.valid(String(info.run));
      if (!only || only.has(info.run)) out.set(info.run, info);
    });
    await this.malformed(bad, sel.malformed);
    return out;
  }

  /** Highest run number registered in any campaign (prompt sensing): one query. */
  async lastRegisteredRun(campaign?: string): Promise<number | undefined> {
    const where = campaign === undefined ? '' : ' WHERE "campaign" = $c';
    const rows = await this.influx.rows(
      `SELECT max("run") FROM ${ident(M.runinfo)}${where}`,
      campaign === undefined ? {} : { c: campaign },
    );
    const v = rows[0]?.max;
    return typeof v === 'number' ? v : undefined;
  }

  /** Latest point of every job of a campaign (optionally only those written after `since`): one query. */
  async jobs(
    campaign: string,
    sel: {
      since?: number;
      workflow?: string;
      firstRun?: number;
      /** Only the points jobs wrote themselves (`runctrl job …`, selfReportedJobPoint). */
      selfReported?: boolean;
      malformed?: MalformedPoint[];
    } = {},
  ): Promise<Map<string, JobRecord>> {
    const conds = ['"campaign" = $c'];
    const params: Record<string, string> = { c: campaign };
    if (sel.workflow !== undefined) {
      conds.push('"workflow" = $w');
      params.w = sel.workflow;
    }
    // the `run` field of a job point is the first run of its unit
    if (sel.firstRun !== undefined) conds.push(`"run" = ${Math.trunc(sel.firstRun)}`);
    if (sel.since !== undefined) conds.push(`time > ${Math.trunc(sel.since)}ms`);
    if (sel.selfReported) conds.push(`${ident(SELF_REPORT)} = true`);
    const out = new Map<string, JobRecord>();
    const bad = new MalformedSet();
    await this.influx.eachRow(
      `SELECT * FROM ${ident(M.job)} WHERE ${conds.join(' AND ')} GROUP BY "workflow"`,
      params,
      (r) => {
        const j = decodeJob(r);
        if (isMalformed(j)) {
          const job = r.job;
          bad.add(
            malformedPoint(M.job, r, { campaign, workflow: undefined }, j.why, () =>
              typeof job === 'string' ? job : undefined,
            ),
          );
          return;
        }
        bad.valid(j.name);
        out.set(j.name, j);
      },
    );
    await this.malformed(bad, sel.malformed);
    return out;
  }

  /** Every point of one job, oldest first (its history). */
  async jobHistory(campaign: string, workflow: string, name: string): Promise<JobRecord[]> {
    const rows = await this.influx.rows(
      `SELECT * FROM ${ident(M.job)} WHERE "campaign" = $c AND "workflow" = $w AND "job" = $j`,
      { c: campaign, w: workflow, j: name },
    );
    const bad = new MalformedSet();
    const out: JobRecord[] = [];
    for (const r of rows) {
      const j = decodeJob(r);
      if (isMalformed(j)) bad.add(malformedPoint(M.job, r, { campaign, workflow }, j.why));
      else out.push(j);
    }
    await this.malformed(bad);
    return out;
  }

  /** Current locks (latest point per campaign × workflow), optionally of one campaign: one query. */
  async locks(campaign?: string): Promise<LockRecord[]> {
    const where = campaign === undefined ? '' : ' WHERE "campaign" = $c';
    const rows = await this.influx.rows(
      `SELECT * FROM ${ident(M.lock)}${where} GROUP BY "campaign", "workflow"`,
      campaign === undefined ? {} : { c: campaign },
    );
    const bad = new MalformedSet();
    const last = lastValid(rows, decodeLock, [M.lock, 'campaign', 'workflow'], bad, pairEntity);
    await this.malformed(bad);
    return [...last.values()];
  }

  /** Lease claims of every scope written after `since` (Unix ms), oldest first per scope: one query. */
  async leasePointsByScope(since: number): Promise<Map<string, LeasePoint[]>> {
    const out = new Map<string, LeasePoint[]>();
    const bad = new MalformedSet();
    await this.influx.eachRow(
      `SELECT "owner", "expires" FROM ${ident(M.lease)} WHERE time > ${Math.trunc(since)}ms GROUP BY "scope"`,
      {},
      (r) => {
        const p = decodeLease(r);
        // a malformed claim is no claim: the holder is computed from the valid ones
        if (isMalformed(p)) return bad.add(malformedPoint(M.lease, r, { scope: undefined }, p.why));
        const scope = String(r.scope);
        let l = out.get(scope);
        if (!l) out.set(scope, (l = []));
        l.push(p);
      },
    );
    await this.malformed(bad);
    return out;
  }

  /**
   * One request: `points` stamped by this process as usual, `serverStamped` (lease claims) stamped by InfluxDB
   * on arrival. Returns Date.now() just before the request left.
   */
  async writeServerStamped(
    points: readonly PointSpec[],
    serverStamped: readonly PointSpec[],
  ): Promise<number> {
    const lines = [
      ...(points.length > 0 ? encodePoints(points).lines : []),
      ...serverStamped.map(serverStampedLine),
    ];
    const sentAt = Date.now();
    if (lines.length > 0) await this.influx.write(lines);
    return sentAt;
  }

  /** The last heartbeat of every loop that wrote one after `since` (Unix ms): one query. */
  async heartbeats(since: number): Promise<Heartbeat[]> {
    const rows = await this.influx.rows(
      `SELECT * FROM ${ident(M.loop)} WHERE time > ${Math.trunc(since)}ms GROUP BY "host", "slot" ORDER BY time DESC LIMIT 1`,
      {},
    );
    return rows.map(decodeHeartbeat).filter((h) => h.loop !== '');
  }

  // snapshots (README "Snapshots"): a campaign's current state kept in InfluxDB ---------------------------

  /**
   * A campaign's current state without reading its history: the newest complete snapshot, then the points
   * written since its watermark minus `overlapMs` (late writes, clock skew), folded over it — equal to the full
   * read. Falls back to the full read when there is no usable snapshot (missing, other schema, corrupt).
   * 5 queries in 2 round trips (2 for the snapshot, 3 for what changed), or 4 on the fallback. With
   * `statusesOnly` (`status`), the snapshot's states carry run, workflow and status only and jobs are not read.
   */
  async campaignState(
    campaign: string,
    overlapMs: number = SNAPSHOT_OVERLAP_MS,
    o: { statusesOnly?: boolean } = {},
  ): Promise<CampaignReadResult> {
    const readAt = Date.now();
    const head = await this.usableHead(campaign);
    // the chunks and what changed since the watermark are read together (2 round trips in all)
    const since = head && head.watermark - overlapMs;
    const only = o.statusesOnly ?? false;
    let malformed: MalformedPoint[] = [];
    const [snap, states, registered, jobs] = head
      ? await Promise.all([
          this.readSnapshot(campaign, head, only),
          this.runStates(campaign, { since, malformed }),
          this.registeredRuns(campaign, { since, malformed }),
          only ? new Map<string, JobRecord>() : this.jobs(campaign, { since, malformed }),
        ])
      : [];
    if (!snap || !states || !registered || !jobs) {
      malformed = [];
      const full = await this.fullState(campaign, malformed);
      // what a statuses-only read reports does not depend on the path it took: jobs are not its business
      if (only) malformed = malformed.filter((p) => p.measurement !== M.job);
      const table = StateTable.from(full.states.values());
      return { ...full, states: table, readAt, via: 'full', changed: 0, malformed };
    }
    // a key's newest point after `since` is at least as new as the one the snapshot holds (README)
    const st = snap.state;
    for (const [k, s] of states) st.states.set(k, s);
    for (const [k, r] of registered) st.registered.set(k, r);
    for (const [k, j] of jobs) st.jobs.set(k, j);
    const changed = states.size + registered.size + jobs.size;
    return { ...st, readAt, via: 'snapshot', head: snap.head, changed, malformed };
  }

  /** The full read of a campaign's state (3 queries in parallel). */
  async fullState(campaign: string, malformed?: MalformedPoint[]): Promise<CampaignState> {
    const [states, registered, jobs] = await Promise.all([
      this.runStates(campaign, { malformed }),
      this.registeredRuns(campaign, { malformed }),
      this.jobs(campaign, { malformed }),
    ]);
    return { states, registered, jobs };
  }

  /** The newest complete snapshot head of a campaign (any schema), or undefined: one query. */
  async snapshotHead(campaign: string): Promise<SnapshotHead | undefined> {
    const rows = await this.influx.rows(
      `SELECT * FROM ${ident(SNAPSHOT)} WHERE "campaign" = $c AND "part" = 'head' ORDER BY time DESC LIMIT 1`,
      { c: campaign },
    );
    const r = rows[0];
    if (!r) return undefined;
    const h = decodeSnapshotHead(r);
    if (!isMalformed(h)) return h;
    // an unreadable head is no snapshot: the reader falls back to the full read
    const bad = new MalformedSet();
    bad.add(malformedPoint(SNAPSHOT, r, { campaign, part: 'head' }, h.why));
    await this.malformed(bad);
    return undefined;
  }

  /** The newest snapshot if it is whole, of this schema and matches its checksum; else undefined. */
  async readSnapshot(
    campaign: string,
    known?: SnapshotHead,
    statusesOnly = false,
  ): Promise<{ head: SnapshotHead; state: CampaignState } | undefined> {
    const v = await this.verifiedChunks(campaign, known ?? (await this.usableHead(campaign)));
    if (!v) return undefined;
    const gen = v.head.gen;
    const state = decodeSafely(() => decodeChunks(v.chunks, statusesOnly, () => this.refuseSnapshot(gen)));
    const ok =
      state !== undefined &&
      state.states.size === v.head.states &&
      state.registered.size === v.head.runs &&
      (statusesOnly || state.jobs.size === v.head.jobs);
    return ok ? { head: v.head, state } : undefined;
  }

  /** The newest snapshot head of a campaign if it is of this schema and well formed: one query. */
  private async usableHead(campaign: string): Promise<SnapshotHead | undefined> {
    const head = await this.snapshotHead(campaign);
    const ok =
      head &&
      head.schema === SNAPSHOT_SCHEMA &&
      head.first >= 0 &&
      head.time >= head.first &&
      !this.refused.has(head.gen);
    return ok ? head : undefined;
  }

  /**
   * Refuses a snapshot generation whose chunks matched their checksum but did not decode when read (a forged
   * snapshot): this process reads the full history instead from now on, and the next snapshot written replaces
   * it. Called by the chunks' lazy decoders (which then throw SnapshotCorrupt: see againIfCorrupt).
   */
  refuseSnapshot(gen: string): void {
    if (this.refused.has(gen)) return;
    this.refused.add(gen);
    this.warnings.sink?.(
      `runctrl: warning: snapshot generation ${gen} does not decode: reading the history instead`,
    );
  }

  /** The chunks of a head, if they are whole and match its checksum: one query. */
  private async verifiedChunks(
    campaign: string,
    head: SnapshotHead | undefined,
  ): Promise<{ head: SnapshotHead; chunks: string[] } | undefined> {
    if (!head) return undefined;
    const chunks: string[] = [];
    await this.influx.eachRow(
      `SELECT "seq", "data" FROM ${ident(SNAPSHOT)} WHERE "campaign" = $c AND "part" = 'data' AND "gen" = $g AND time >= ${Math.trunc(head.first)}ms AND time <= ${Math.trunc(head.time)}ms`,
      { c: campaign, g: head.gen },
      (r) => {
        const seq = r.seq;
        if (typeof seq === 'number' && seq >= 0 && seq < head.chunks && typeof r.data === 'string')
          chunks[seq] = r.data;
      },
    );
    if (chunks.length !== head.chunks) return undefined;
    for (let i = 0; i < chunks.length; i++) if (chunks[i] === undefined) return undefined;
    return checksum(chunks) === head.sum ? { head, chunks } : undefined;
  }

  /**
   * Run × workflow counts per status and the number of runs with a status, of a campaign's current state
   * (`list`): the snapshot's statuses without building a state object per pair, plus the states written since
   * its watermark; the full read when there is no usable snapshot. 3 queries in 2 round trips (2 on the
   * fallback).
   */
  async statusCounts(
    campaign: string,
    overlapMs: number = SNAPSHOT_OVERLAP_MS,
  ): Promise<{ counts: Record<RunStatus, number>; runs: number; malformed: MalformedPoint[] }> {
    const head = await this.usableHead(campaign);
    let malformed: MalformedPoint[] = [];
    const [v, since] = head
      ? await Promise.all([
          this.verifiedChunks(campaign, head),
          this.runStates(campaign, { since: head.watermark - overlapMs, malformed }),
        ])
      : [];
    const cols = v && decodeSafely(() => decodeStatuses(v.chunks));
    const fold =
      cols && v && cols.reduce((n, c) => n + c.runs.length, 0) === v.head.states ? cols : undefined;
    if (!(fold && since)) malformed = [];
    const states = fold && since ? since : await this.runStates(campaign, { malformed });
    const counts = emptyCounts();
    const runs = new RunSet();
    // the pairs written since the watermark replace the snapshot's; the others are counted from its columns
    const changed = new Map<string, Set<number>>();
    for (const s of states.values()) {
      let w = changed.get(s.workflow);
      if (!w) changed.set(s.workflow, (w = new Set()));
      w.add(s.run);
      counts[s.status]++;
      runs.add(s.run);
    }
    for (const c of fold ?? []) {
      const skip = changed.get(c.w);
      for (let i = 0; i < c.runs.length; i++) {
        const run = c.runs[i] ?? 0;
        if (skip?.has(run)) continue;
        const st = RUN_STATUSES[c.st[i] ?? 0];
        if (st !== undefined) counts[st]++;
        runs.add(run);
      }
    }
    return { counts, runs: runs.size, malformed };
  }

  /**
   * Writes a snapshot of `state`, which must be a read of the campaign begun at `watermark` (Unix ms) with
   * nothing of the caller's own folded in: the chunks first, the head last (a crash in between leaves an
   * invisible generation). Then removes generations older than the previous one. Returns the head.
   */
  async writeSnapshot(
    campaign: string,
    state: CampaignState,
    watermark: number,
    beforeHead: () => void = () => undefined,
  ): Promise<SnapshotHead> {
    const previous = await this.snapshotHead(campaign);
    const chunks = encodeChunks(state);
    const gen = newGeneration();
    const first = await this.write(chunkPoints(campaign, gen, chunks));
    beforeHead();
    const h = {
      gen,
      schema: SNAPSHOT_SCHEMA,
      watermark,
      first,
      chunks: chunks.length,
      sum: checksum(chunks),
      states: state.states.size,
      runs: state.registered.size,
      jobs: state.jobs.size,
    };
    const time = await this.write([headPoint(campaign, h)]);
    if (previous && previous.first > 0) await this.pruneSnapshots(campaign, previous.first);
    return { ...h, time };
  }

  /** Deletes a campaign's snapshot points older than `before` (Unix ms). */
  private async pruneSnapshots(campaign: string, before: number): Promise<void> {
    await this.influx.query(
      `DELETE FROM ${ident(SNAPSHOT)} WHERE "campaign" = ${literal(campaign)} AND time < ${Math.trunc(before)}ms`,
      {},
      { write: true },
    );
  }
}

/** A set of run numbers: a bitmap over the runs of a dense range, a Set beyond it. */
class RunSet {
  private readonly bits = new Uint8Array(1 << 16);
  private base = -1;
  private readonly other = new Set<number>();
  private n = 0;

  add(run: number): void {
    if (this.base < 0) this.base = Math.max(0, run - (1 << 15));
    const i = run - this.base;
    if (i < 0 || i >= this.bits.length) this.other.add(run);
    else if (this.bits[i] === 0) {
      this.bits[i] = 1;
      this.n++;
    }
  }

  get size(): number {
    return this.n + this.other.size;
  }
}

/** Points with client timestamps up to this long before a snapshot's watermark are read again. */
export const SNAPSHOT_OVERLAP_MS = 120_000;

export interface CampaignReadResult extends CampaignState {
  /** Unix ms at which the read began (the watermark of a snapshot taken from it). */
  readAt: number;
  /** Malformed points the read skipped (their pairs, runs or jobs keep their last valid point). */
  malformed: MalformedPoint[];
  via: 'snapshot' | 'full';
  head?: SnapshotHead;
  /** Entries read since the snapshot's watermark (0 on a full read). */
  changed: number;
}

/**
 * The last valid value of each entity among rows read oldest first (a definition's points), the malformed ones
 * collected in `bad` unless a newer valid point of their entity supersedes them.
 */
function lastValid<T>(
  rows: readonly Row[],
  decode: (r: Row) => T | Malformed,
  [measurement, ...tags]: readonly string[],
  bad: MalformedSet,
  entityOf: (r: Row) => string,
): Map<string, T> {
  const tagged = Object.fromEntries(tags.map((t) => [t, undefined]));
  const last = new Map<string, T>();
  for (const r of rows) {
    const v = decode(r);
    const k = entityOf(r);
    if (isMalformed(v)) bad.add(malformedPoint(measurement ?? '', r, tagged, v.why, entityOf));
    else {
      bad.valid(k);
      last.set(k, v);
    }
  }
  return last;
}
