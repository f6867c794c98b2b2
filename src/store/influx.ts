/**
 * The InfluxDB v1 HTTP API client: `/query` (InfluxQL) and `/write` (line protocol) over node:http (src/util/http.ts).
 * Works with InfluxDB 1.x and with the v1-compatibility endpoints of 2.x/3.x (token auth).
 *
 * Errors are mapped onto the error module: unreachable server and 5xx are transient (retried with capped
 * backoff); 401/403/404 and bad requests are user errors whose message says how to fix them. Passwords
 * and tokens never appear in a message.
 */
import { InternalError, TransientError, UserError } from '../errors.js';
import { withRetry, type BackoffOptions } from '../util/retry.js';
import { HttpClient, HttpStatusError, NetworkError } from '../util/http.js';
import { LineEncoder, type PointSpec } from './lineproto.js';

export interface InfluxOptions {
  url: string;
  db: string;
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  timeoutMs?: number;
  backoff?: BackoffOptions;
  /** Lines per POST to /write. */
  batchSize?: number;
}

export type Scalar = string | number | boolean | null;

export interface ReadOptions {
  /** 'ms' (default): the time column as Unix ms; 'rfc3339': as RFC 3339 text, exact to the nanosecond. */
  epoch?: 'ms' | 'rfc3339';
}

export interface Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: Scalar[][];
}

interface QueryResult {
  statement_id?: number;
  error?: string;
  series?: Series[];
}

/** Told of every HTTP request to InfluxDB (each attempt of a retried one): its kind, duration and outcome. */
export type RequestObserver = (kind: string, seconds: number, ok: boolean) => void;

export const WRITE_BATCH = 5000;
/** Batches encoded, at most, beyond the one being written. */
export const ENCODE_AHEAD = 2;

export class InfluxClient {
  readonly url: string;
  readonly db: string;
  private readonly http: HttpClient;
  private readonly backoff: BackoffOptions;
  private readonly batchSize: number;
  private readonly who: string;
  /** Counters for benchmarks and tests: requests sent. */
  readonly stats = { queries: 0, writes: 0, lines: 0 };
  private readonly observers = new Set<RequestObserver>();

  constructor(opts: InfluxOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.db = opts.db;
    this.backoff = opts.backoff ?? { attempts: 4, baseMs: 250, maxMs: 4_000 };
    this.batchSize = opts.batchSize ?? WRITE_BATCH;
    this.who = opts.user ?? (opts.token ? 'token' : 'anonymous');
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Token ${opts.token}`;
    else if (opts.user !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64')}`;
    }
    this.http = new HttpClient({ url: this.url, headers, timeoutMs: opts.timeoutMs ?? 30_000 });
  }

  /** Runs one InfluxQL statement and returns its series (empty when there are no rows). */
  async query(
    q: string,
    params: Record<string, string | number | boolean> = {},
    opts: { write?: boolean; db?: string | null } = {},
  ): Promise<Series[]> {
    const searchParams: Record<string, string> = { q, epoch: 'ms' };
    const db = opts.db === undefined ? this.db : opts.db;
    if (db !== null) searchParams.db = db;
    if (Object.keys(params).length > 0) searchParams.params = JSON.stringify(params);
    const body = await this.request(`query`, async () => {
      this.stats.queries++;
      if (opts.write) {
        const form = Buffer.from(new URLSearchParams(searchParams).toString());
        return (
          await this.http.text('POST', 'query', {}, { data: form, type: 'application/x-www-form-urlencoded' })
        ).text;
      }
      return (await this.http.text('GET', 'query', { ...searchParams, chunked: 'true', chunk_size: '10000' }))
        .text;
    });
    return mergeChunks(body, q);
  }

  /** Rows of a one-series-per-tag-set query as objects keyed by column (tags merged in). */
  async rows(
    q: string,
    params: Record<string, string | number | boolean> = {},
    opts: ReadOptions = {},
  ): Promise<Record<string, Scalar>[]> {
    const out: Record<string, Scalar>[] = [];
    await this.eachRow(q, params, (row) => out.push(row), opts);
    return out;
  }

  /**
   * Streams the rows of a SELECT (chunked answer, 10 000 rows a chunk) to fn as they arrive, so a large read
   * never holds the whole answer in memory. If the request fails midway and is retried, the rows are given
   * again from the first one: fn must be a fold where a later row of an entity replaces an earlier one.
   */
  async eachRow(
    q: string,
    params: Record<string, string | number | boolean>,
    fn: (row: Record<string, Scalar>) => void,
    opts: ReadOptions = {},
  ): Promise<void> {
    const searchParams: Record<string, string> = { q, db: this.db, chunked: 'true', chunk_size: '10000' };
    // times as Unix ms numbers, or (rfc3339) as InfluxDB's own RFC 3339 text with every nanosecond
    if ((opts.epoch ?? 'ms') === 'ms') searchParams.epoch = 'ms';
    if (Object.keys(params).length > 0) searchParams.params = JSON.stringify(params);
    await this.request('query', async () => {
      this.stats.queries++;
      const stream = this.http.stream('query', searchParams);
      // a line (one chunk of the answer) may be megabytes long (snapshot chunks): its pieces are kept apart and
      // only each new piece is searched for the end of line, so a long line costs linear time
      let pieces: string[] = [];
      const flush = (line: string): void => {
        if (line.trim() !== '') for (const s of chunkSeries(line, q)) forEachRow(s, fn);
      };
      for await (const data of stream) {
        let from = 0;
        let nl = data.indexOf('\n');
        while (nl >= 0) {
          pieces.push(data.slice(from, nl));
          flush(pieces.join(''));
          pieces = [];
          from = nl + 1;
          nl = data.indexOf('\n', from);
        }
        if (from < data.length) pieces.push(data.slice(from));
      }
      flush(pieces.join(''));
      return undefined;
    });
  }

  /** Writes lines in batches of ~5000 (idempotent: the timestamps are fixed, so a retried batch merges). */
  async write(lines: readonly string[], onBatch?: (written: number) => void): Promise<void> {
    for (let i = 0; i < lines.length; i += this.batchSize) {
      const chunk = lines.slice(i, i + this.batchSize);
      await this.request('write', async () => {
        this.stats.writes++;
        await this.http.text(
          'POST',
          'write',
          { db: this.db, precision: 'ns' },
          { data: Buffer.from(chunk.join('\n')), type: 'text/plain; charset=utf-8' },
        );
        return '';
      });
      this.stats.lines += chunk.length;
      onBatch?.(Math.min(lines.length, i + chunk.length));
    }
  }

  /**
   * Encodes and writes points in batches, one request in flight at a time and in order (as with
   * {@link write}), encoding up to {@link ENCODE_AHEAD} batches ahead of the one on the wire, so the next
   * request leaves as soon as the previous one is answered. Points may come from a generator, so a large
   * injection never holds all its points or lines in memory. Returns the millisecond of the first point.
   * After a failed batch no later one is sent.
   */
  async writePoints(points: Iterable<PointSpec>, onBatch?: (written: number) => void): Promise<number> {
    const enc = new LineEncoder();
    let batch: string[] = [];
    let written = 0;
    /** Settles when batch i is written (or one before it failed). */
    const done: Promise<void>[] = [];
    const send = async (lines: string[]): Promise<void> => {
      const ahead = done[done.length - ENCODE_AHEAD];
      if (ahead) await ahead;
      const sent = (done[done.length - 1] ?? Promise.resolve()).then(async () => {
        await this.write(lines);
        written += lines.length;
        onBatch?.(written);
      });
      // handled when awaited (a later batch or the end); keeps a failure from counting as unhandled meanwhile
      sent.catch(() => undefined);
      done.push(sent);
    };
    for (const p of points) {
      batch.push(enc.line(p));
      // let the request in flight send its body (and the next one leave) while this batch is encoded
      if (done.length > 0 && batch.length % 500 === 0)
        await new Promise<void>((resolve) => setImmediate(resolve));
      if (batch.length >= this.batchSize) {
        await send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch);
    await done[done.length - 1];
    return enc.firstMs;
  }

  async ping(): Promise<string> {
    return this.request('ping', async () => {
      const res = await this.http.text('GET', 'ping', {});
      return String(res.headers['x-influxdb-version'] ?? 'unknown');
    });
  }

  async databaseExists(): Promise<boolean> {
    const s = await this.query('SHOW DATABASES', {}, { db: null });
    return s.some((x) => x.values.some((v) => v[0] === this.db));
  }

  /**
   * Creates the database unless it exists. Checking first lets a user with READ/WRITE (but no admin)
   * privilege on an existing database work: `CREATE DATABASE` needs admin, `SHOW DATABASES` does not.
   */
  async createDatabase(): Promise<void> {
    if (await this.databaseExists()) return;
    await this.query(
      `CREATE DATABASE "${this.db.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
      {},
      { write: true, db: null },
    );
  }

  async dropDatabase(): Promise<void> {
    await this.query(
      `DROP DATABASE "${this.db.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
      {},
      { write: true, db: null },
    );
  }

  /** Observes every request from now on (metrics); returns the function that stops it. */
  observe(fn: RequestObserver): () => void {
    this.observers.add(fn);
    return () => void this.observers.delete(fn);
  }

  private async request<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(async () => {
      const t0 = performance.now();
      const tell = (ok: boolean): void => {
        for (const o of this.observers) o(what, (performance.now() - t0) / 1000, ok);
      };
      try {
        const r = await fn();
        tell(true);
        return r;
      } catch (err) {
        tell(false);
        throw this.mapError(what, err);
      }
    }, this.backoff);
  }

  private mapError(what: string, err: unknown): Error {
    if (err instanceof HttpStatusError) {
      const status = err.status;
      // InfluxDB repeats the message in the X-Influxdb-Error header
      const header = err.headers['x-influxdb-error'];
      const msg = serverMessage(err.body !== '' ? err.body : typeof header === 'string' ? header : '');
      if (status === 401) {
        return new UserError(
          `InfluxDB at ${this.url} refused the credentials of '${this.who}' (401 ${msg}): check RUNCTRL_INFLUXDB_USER/RUNCTRL_INFLUXDB_PASSWORD (or ECAL_INFLUXDB_USER/ECAL_INFLUXDB_PWD, or RUNCTRL_INFLUXDB_TOKEN)`,
        );
      }
      if (status === 403) {
        return new UserError(
          `InfluxDB user '${this.who}' may not do this on database '${this.db}' (403 ${msg}): use a user with ${what === 'write' ? 'WRITE' : 'the needed'} privilege`,
        );
      }
      if (status === 404 && /database not found/.test(msg)) {
        return new UserError(
          `database '${this.db}' does not exist on ${this.url}: create a campaign in it with 'runctrl --db ${this.db} create --campaign NAME'`,
        );
      }
      if (status >= 500)
        return new TransientError(`InfluxDB at ${this.url} answered ${status} to ${what}: ${msg}`);
      if (status === 413) return new InternalError(`InfluxDB refused a ${what} body as too large (413)`);
      return new InternalError(`InfluxDB answered ${status} to ${what}: ${msg}`);
    }
    if (err instanceof NetworkError) {
      return new TransientError(
        `cannot reach InfluxDB at ${this.url} (${err.code}): start it (scripts/influxdb.sh up) or point --influx-url/RUNCTRL_INFLUXDB_URL at a running server`,
      );
    }
    return err instanceof Error ? err : new InternalError(String(err));
  }
}

function serverMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: string };
    if (typeof j.error === 'string') return j.error;
  } catch {
    /* not JSON */
  }
  return body.trim().slice(0, 300);
}

/** The series of one line of a (chunked) /query answer; runtime errors of the statement are thrown. */
export function chunkSeries(line: string, q: string): Series[] {
  const obj = JSON.parse(line) as { results?: QueryResult[]; error?: string };
  if (obj.error) throw new InternalError(`InfluxDB query failed: ${obj.error} (query: ${q})`);
  const out: Series[] = [];
  for (const r of obj.results ?? []) {
    if (r.error) {
      if (/database not found/.test(r.error)) {
        const db = /database not found: "?([^"]*)"?/.exec(r.error)?.[1] ?? '';
        throw new UserError(
          `database '${db}' does not exist: create a campaign in it with 'runctrl --db ${db} create --campaign NAME'`,
        );
      }
      throw new InternalError(`InfluxDB query failed: ${r.error} (query: ${q})`);
    }
    for (const s of r.series ?? []) {
      out.push({ name: s.name, tags: s.tags ?? {}, columns: s.columns, values: s.values ?? [] });
    }
  }
  return out;
}

/** Merges a (possibly chunked, newline-delimited) /query body into whole series. */
export function mergeChunks(body: string, q: string): Series[] {
  const out: Series[] = [];
  let last: Series | undefined;
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    for (const series of chunkSeries(line, q)) {
      if (
        last &&
        last.name === series.name &&
        sameTags(last.tags, series.tags) &&
        sameCols(last.columns, series.columns)
      ) {
        for (const v of series.values) last.values.push(v);
      } else {
        out.push(series);
        last = series;
      }
    }
  }
  return out;
}

/** Calls fn for every row of one series chunk (tags merged in), built with plain loops (fast in V8). */
function forEachRow(s: Series, fn: (row: Record<string, Scalar>) => void): void {
  const tagKeys = Object.keys(s.tags);
  const cols = s.columns;
  for (const v of s.values) {
    const row: Record<string, Scalar> = {};
    for (const k of tagKeys) row[k] = s.tags[k] ?? null;
    for (let i = 0; i < cols.length; i++) row[cols[i] ?? ''] = v[i] ?? null;
    fn(row);
  }
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function sameCols(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}
