/**
 * A run source over the CMS OMS aggregation REST API (`https://cmsoms.cern.ch/agg/api/v1`), `runs` endpoint,
 * JSON:API style, over node:http (src/util/http.ts).
 *
 * Request: `GET {base}/runs?fields=run_number,fill_number,…&filter[run_number][GE]=…&filter[run_number][LE]=…
 *           &sort=run_number&page[offset]=…&page[limit]=…` (also `[EQ]`, `[GT]`); `fields` names exactly the
 *           attributes the mapping below reads ({@link RUN_FIELDS}).
 * Answer:  `{ "data": [ { "id": "380310", "type": "runs", "attributes": { "run_number": 380310, … },
 *            "meta": { "row": { "recorded_lumi": { "units": "pb^{-1}" }, … } } } ],
 *            "links": { … }, "meta": { "totalResourceCount": 1234 } }`.
 * Pages are read until `meta.totalResourceCount` rows were read (when OMS gives it), else until a page comes
 * back short; the next offset is the number of rows received so far.
 *
 * Attribute mapping onto RunInfo (what OMS does not give has a documented default):
 *
 * | RunInfo       | OMS attribute(s)                                                                        |
 * |---------------|-----------------------------------------------------------------------------------------|
 * | run           | run_number (required)                                                                   |
 * | fill          | fill_number (null → 0: runs without an LHC fill)                                        |
 * | era           | the configured era whose run range holds the run; else the OMS era (`eras` endpoint)    |
 * |               | whose start_run…end_run holds it; else `Run<year of start_time>`                        |
 * | startTime     | start_time (ISO 8601 → Unix seconds; required)                                          |
 * | endTime       | end_time (null while the run is ongoing)                                                |
 * | global        | sequence == "GLOBAL-RUN" when OMS gives `sequence` (the attribute OMS itself uses to    |
 * |               | tell global runs); else `components` holding TRG and at least 3 entries (a central run  |
 * |               | with the trigger); else a non-empty l1_key with an hlt_key under /cdaq/ (local runs     |
 * |               | have no L1/HLT menu); else false                                                        |
 * | stableBeams   | stable_beam, true only when literally true (`beams_present_and_stable` is the Run         |
 * |               | Registry's attribute, not one OMS `runs` serves: asking for it is a 400)                |
 * | runClass      | from l1_hlt_mode(_stripped) / hlt_key and                                               |
 * |               | stable_beam: stable beams or "collision"/"physics" → Collisions<yy>, "cosmic" →         |
 * |               | Cosmics<yy>, otherwise Commissioning<yy> (yy: year of start_time)                       |
 * | deliveredLumi | delivered_lumi converted to /pb with the row's `meta.row.delivered_lumi.units`          |
 * |               | (pb^{-1} assumed when absent; fb/nb/ub handled); null → 0                               |
 * | recordedLumi  | recorded_lumi, likewise                                                                 |
 * | beamEnergy    | energy (GeV per beam); null → 0                                                         |
 * | magnetCurrent | b_field (tesla) scaled to the solenoid current, 3.8 T ↔ 18164 A, i.e.                  |
 * |               | round(b_field × 18164 / 3.8); null → 0. OMS gives the field, not the current; the       |
 * |               | relation is linear to well below 1% over the range that matters (on ≈ 3.8 T, off ≈ 0). |
 * | quality       | {} — data-quality flags are not OMS's business (they come from the Run Registry)        |
 *
 * Batching: `fetch({ runs })` never asks run by run. The sorted run numbers are cut into windows (a new
 * window when the gap to the previous run exceeds `maxGap` or the window would span more than `maxSpan`
 * run numbers); each window is one paginated GE/LE query (EQ for a window of one run), and the answer is
 * filtered client-side to the runs asked for.
 *
 * Eras: `eras()` answers the configured era list when there is one (option `eras`, names or
 * `{ name, firstRun, lastRun }` ranges); else the names of OMS's `eras` endpoint (rows with name,
 * start_fill, end_fill, start_run, end_run). `fetch({ era })` takes the era's run range from the configured
 * list, else from `eras?filter[name][EQ]=…` (an empty end_run: the era reaches the latest run), and queries
 * `runs` by run number (OMS's runs have no era attribute). Other fetches read the eras once (one query per
 * fetch, only when a returned run is not covered by configured ranges) to name each run's era.
 *
 * HTTP: keep-alive agents, a per-request timeout, no redirects followed (an SSO login redirect is reported
 * as such). Connection errors, timeouts and 5xx are `TransientError`s retried with capped backoff; other
 * statuses are `UserError`s saying what to fix. Authentication: client credentials (tokens fetched, cached
 * and renewed by src/sources/oms-auth.ts; one renewal and retry on a 401, then a 401/403 is a user error),
 * or a static bearer token, or a cookie. Secrets and tokens never appear in any message or in `describe`.
 */
import { InternalError, TransientError, UserError } from '../errors.js';
import type { RunInfo } from '../domain/run.js';
import { HttpClient, HttpStatusError, NetworkError } from '../util/http.js';
import { withRetry, type BackoffOptions } from '../util/retry.js';
import { copyRun, queryMatches, toUnixSeconds, validateQuery } from './registry.js';
import type { RunQuery, RunSource } from './source.js';
import { OmsTokenProvider, type OmsCredentials } from './oms-auth.js';

export const DEFAULT_OMS_URL = 'https://cmsoms.cern.ch/agg/api/v1';

/** An era with the run numbers it covers (inclusive; an open end when lastRun is absent). */
export interface OmsEra {
  name: string;
  firstRun?: number;
  lastRun?: number;
}

export interface OmsOptions {
  /** API base, e.g. https://cmsoms.cern.ch/agg/api/v1 (a trailing `/runs` is accepted and dropped). */
  url: string;
  /** Sent as `Authorization: Bearer …` (a static token; see `credentials` for renewed ones). */
  token?: string | undefined;
  /** OAuth2 client credentials: tokens fetched, cached and renewed (src/sources/oms-auth.ts). */
  credentials?: OmsCredentials | undefined;
  /** Sent as the `Cookie` header (e.g. an SSO cookie). */
  cookie?: string | undefined;
  /** Per-request timeout in ms (default 30000). */
  timeoutMs?: number | undefined;
  backoff?: BackoffOptions | undefined;
  /** `page[limit]` (default 500). */
  pageSize?: number | undefined;
  /** Configured eras: names, or names with run ranges (see the module comment). */
  eras?: (string | OmsEra)[] | undefined;
  /** Batching of run lists: largest gap inside one window (default 200) and widest window (default 5000). */
  maxGap?: number | undefined;
  maxSpan?: number | undefined;
}

/**
 * The `runs` attributes the mapping reads: the `fields=` projection of every runs query. Only attributes OMS's
 * `runs` serves (an unknown one makes OMS answer 400 `Attribute [x] does not exist`).
 */
export const RUN_FIELDS = [
  'run_number',
  'fill_number',
  'start_time',
  'end_time',
  'stable_beam',
  'sequence',
  'components',
  'l1_key',
  'hlt_key',
  'l1_hlt_mode',
  'l1_hlt_mode_stripped',
  'delivered_lumi',
  'recorded_lumi',
  'energy',
  'b_field',
] as const;
const ERA_FIELDS = 'name,start_run,end_run';

/** Solenoid current per tesla: 18164 A at 3.8 T. */
export const AMPERE_PER_TESLA = 18164 / 3.8;

type Attrs = Record<string, unknown>;
interface OmsRow {
  id?: unknown;
  attributes?: Attrs;
  meta?: { row?: Record<string, { units?: unknown } | undefined> };
}
interface OmsPage {
  data: OmsRow[];
  meta?: { totalResourceCount?: unknown };
}

/** Normalizes an OMS base URL; throws a UserError for an unusable one. */
export function omsBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`invalid OMS URL '${url}': give it as https://host/agg/api/v1`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UserError(`invalid OMS URL '${url}': only http and https are supported`);
  }
  if (u.username || u.password) {
    throw new UserError(
      'put no credentials in the OMS URL: give a token (RUNCTRL_OMS_TOKEN) or a cookie instead',
    );
  }
  if (u.search || u.hash)
    throw new UserError(`give the OMS URL without a query string: ${u.origin}${u.pathname}`);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '').replace(/\/runs$/, '');
}

export class OmsSource implements RunSource {
  readonly describe: string;
  readonly baseUrl: string;
  /** Counters for tests and benchmarks. */
  readonly stats = { requests: 0 };
  private readonly http: HttpClient;
  private readonly backoff: BackoffOptions;
  private readonly pageSize: number;
  private readonly timeoutMs: number;
  private readonly eraList: OmsEra[] | undefined;
  private readonly maxGap: number;
  private readonly maxSpan: number;
  /** Set with client credentials. */
  readonly auth: OmsTokenProvider | undefined;

  constructor(opts: OmsOptions) {
    this.baseUrl = omsBaseUrl(opts.url);
    this.describe = `oms ${this.baseUrl}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.backoff = opts.backoff ?? { attempts: 4, baseMs: 500, maxMs: 8_000 };
    this.pageSize = positiveInt(opts.pageSize ?? 500, 'OMS page size');
    this.maxGap = positiveInt(opts.maxGap ?? 200, 'OMS batching gap');
    this.maxSpan = positiveInt(opts.maxSpan ?? 5_000, 'OMS batching span');
    this.eraList = opts.eras?.map((e) => (typeof e === 'string' ? { name: e } : e));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.token && opts.credentials) {
      throw new UserError(
        'give either an OMS token (RUNCTRL_OMS_TOKEN) or client credentials (RUNCTRL_OMS_CLIENT_ID/SECRET), not both',
      );
    }
    this.auth = opts.credentials ? new OmsTokenProvider(opts.credentials, this.timeoutMs) : undefined;
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    this.http = new HttpClient({ url: this.baseUrl, headers, timeoutMs: this.timeoutMs });
  }

  async fetch(q: RunQuery): Promise<RunInfo[]> {
    validateQuery(q);
    if (q.runs === undefined && q.range === undefined && q.after === undefined && q.era === undefined) {
      throw new UserError(
        'an OMS query needs runs, a run range, an era or a run to start after (OMS holds every run)',
      );
    }
    // Run-number bounds from range, after and the era's run range.
    let lo = Math.max(q.range?.min ?? 1, q.after === undefined ? 1 : q.after + 1);
    let hi = q.range?.max ?? Infinity;
    let eraRanges: OmsEra[] | undefined;
    if (q.era !== undefined) {
      const era = await this.eraRange(q.era);
      if (era?.firstRun === undefined) return [];
      lo = Math.max(lo, era.firstRun);
      hi = Math.min(hi, era.lastRun ?? Infinity);
      eraRanges = [era];
    }
    if (lo > hi) return [];

    const windows: [number, number][] = [];
    let wanted: Set<number> | undefined;
    if (q.runs !== undefined) {
      wanted = new Set(q.runs);
      const sorted = [...wanted].filter((n) => n >= lo && n <= hi).sort((a, b) => a - b);
      windows.push(...batchWindows(sorted, this.maxGap, this.maxSpan));
    } else {
      windows.push([lo, hi]);
    }

    const rows: OmsRow[] = [];
    for (const [from, to] of windows) {
      const params: Record<string, string> = {};
      if (from === to) params['filter[run_number][EQ]'] = String(from);
      else {
        if (q.after !== undefined && from === q.after + 1 && q.runs === undefined) {
          params['filter[run_number][GT]'] = String(q.after);
        } else if (from > 1) params['filter[run_number][GE]'] = String(from);
        if (Number.isFinite(to)) params['filter[run_number][LE]'] = String(to);
      }
      rows.push(...(await this.readAll('runs', params)));
    }
    const eras = await this.eraIndexFor(rows, eraRanges);
    const out = new Map<number, RunInfo>();
    for (const row of rows) {
      const r = this.toRunInfo(row, eras);
      if (queryMatches(q, r, wanted)) out.set(r.run, r);
    }
    return [...out.values()].sort((a, b) => a.run - b.run).map(copyRun);
  }

  async eras(): Promise<string[]> {
    if (this.eraList) return [...new Set(this.eraList.map((e) => e.name))].sort();
    return [...new Set((await this.omsEras({})).map((e) => e.name))].sort();
  }

  async close(): Promise<void> {
    this.http.close();
  }

  /** Maps one OMS row onto a RunInfo (see the module comment); `eras` names the run's era. */
  toRunInfo(row: OmsRow, eras: readonly OmsEra[] = []): RunInfo {
    const a: Attrs = row.attributes ?? {};
    const run = a.run_number ?? row.id;
    const runNumber = typeof run === 'string' && /^\d+$/.test(run) ? Number(run) : run;
    if (typeof runNumber !== 'number' || !Number.isSafeInteger(runNumber) || runNumber <= 0) {
      throw new UserError(`${this.describe} answered a run without a valid run_number: is this the OMS API?`);
    }
    const start = toUnixSeconds(a.start_time);
    if (typeof start === 'string') {
      throw new UserError(`${this.describe}: run ${runNumber} has an unusable start_time (${start})`);
    }
    const endRaw = a.end_time;
    const end = endRaw === null || endRaw === undefined || endRaw === '' ? null : toUnixSeconds(endRaw);
    const endTime = typeof end === 'number' ? end : null;
    const year = new Date(start * 1000).getUTCFullYear();
    const yy = String(year % 100).padStart(2, '0');
    const stableBeams = a.stable_beam === true;
    const bField = num(a.b_field);
    return {
      run: runNumber,
      fill: Math.max(0, Math.trunc(num(a.fill_number))),
      era: eraHolding(this.eraList ?? [], runNumber) ?? eraHolding(eras, runNumber) ?? `Run${year}`,
      startTime: start,
      endTime,
      global: isGlobal(a),
      stableBeams,
      runClass: runClassOf(a, stableBeams, yy),
      deliveredLumi: toInversePb(num(a.delivered_lumi), row.meta?.row?.delivered_lumi?.units),
      recordedLumi: toInversePb(num(a.recorded_lumi), row.meta?.row?.recorded_lumi?.units),
      beamEnergy: Math.max(0, num(a.energy)),
      magnetCurrent: Math.max(0, Math.round(bField * AMPERE_PER_TESLA)),
      quality: {},
    };
  }

  /** The run range of an era: a configured one first, else OMS's `eras` row of that name. */
  private async eraRange(name: string): Promise<OmsEra | undefined> {
    const known = this.eraList?.find((e) => e.name === name && e.firstRun !== undefined);
    if (known) return known;
    return (await this.omsEras({ 'filter[name][EQ]': name })).find((e) => e.name === name);
  }

  /** The eras that name the runs of `rows`: one `eras` query, only when configured ranges do not cover them. */
  private async eraIndexFor(rows: OmsRow[], known: OmsEra[] | undefined): Promise<OmsEra[]> {
    if (known) return known;
    const configured = this.eraList ?? [];
    const uncovered = rows.some((r) => {
      const n = runNumberOf(r);
      return n === undefined || eraHolding(configured, n) === undefined;
    });
    return uncovered ? this.omsEras({}) : [];
  }

  /** Rows of OMS's `eras` endpoint as eras with run ranges (an empty end_run: still open). */
  private async omsEras(filters: Record<string, string>): Promise<OmsEra[]> {
    const rows = await this.readAll('eras', { ...filters, fields: ERA_FIELDS });
    const out: OmsEra[] = [];
    for (const r of rows) {
      const a = r.attributes ?? {};
      const name = a.name ?? r.id;
      if (typeof name !== 'string' || name === '') continue;
      const era: OmsEra = { name };
      const first = runNumberValue(a.start_run);
      const last = runNumberValue(a.end_run);
      if (first !== undefined) era.firstRun = first;
      if (first !== undefined && last !== undefined) era.lastRun = last;
      out.push(era);
    }
    return out;
  }

  /** Every page of a query, in order. */
  private async readAll(resource: string, params: Record<string, string>): Promise<OmsRow[]> {
    const rows: OmsRow[] = [];
    const base =
      resource === 'runs' ? { fields: RUN_FIELDS.join(','), ...params, sort: 'run_number' } : params;
    let offset = 0;
    for (;;) {
      const page = await this.get(resource, {
        ...base,
        'page[offset]': String(offset),
        'page[limit]': String(this.pageSize),
      });
      const prev = runNumberOf(rows[rows.length - 1]);
      rows.push(...page.data);
      offset += page.data.length;
      if (page.data.length === 0) break;
      // A server that ignores page[offset] would send the first page again and again.
      const first = runNumberOf(page.data[0]);
      if (resource === 'runs' && first !== undefined && prev !== undefined && first <= prev) {
        throw new InternalError(`${this.describe} ignored page[offset] (run ${first} came again)`);
      }
      // The total when OMS gives it (a server may cap page[limit]); else a short page is the last.
      const total = page.meta?.totalResourceCount;
      if (typeof total === 'number' ? offset >= total : page.data.length < this.pageSize) break;
    }
    return rows;
  }

  /** One GET with retries; the parsed page. */
  private async get(resource: string, params: Record<string, string>): Promise<OmsPage> {
    const url = `${this.baseUrl}/${resource}`;
    return withRetry(async () => {
      let token = await this.auth?.token();
      let res = await this.send(url, params, token);
      if (res.status === 401 && this.auth && token !== undefined) {
        // expired or revoked: renew once
        token = await this.auth.renew(token);
        res = await this.send(url, params, token);
      }
      return this.answer(url, resource, res);
    }, this.backoff);
  }

  /** One HTTP GET (with the bearer token when given). */
  private async send(
    url: string,
    params: Record<string, string>,
    token: string | undefined,
  ): Promise<{ status: number; body: string; location: string | undefined }> {
    this.stats.requests++;
    try {
      const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const res = await this.http.text('GET', url, params, undefined, auth);
      return { status: 200, body: res.text, location: undefined };
    } catch (err) {
      if (err instanceof HttpStatusError)
        return { status: err.status, body: err.body, location: err.headers.location };
      throw this.requestError(url, err);
    }
  }

  /** The parsed page of an answer, or the runctrl error for its status. */
  private answer(
    url: string,
    resource: string,
    { status, body, location }: { status: number; body: string; location: string | undefined },
  ): OmsPage {
    const said = (sep: string): string => this.scrub(serverMessage(body, sep));
    if (status >= 500) throw new TransientError(`OMS at ${url} answered ${status}${said(': ')}`);
    if (status >= 300 && status < 400) {
      throw new UserError(
        `OMS at ${url} redirected to ${redirectTarget(location)} (${status}), probably a CERN SSO login: ${this.howToAuth()}`,
      );
    }
    if ((status === 401 || status === 403) && this.auth) {
      throw new UserError(
        `OMS at ${url} refused the access token of client '${this.auth.clientId}' for audience '${this.auth.audience}' (${status}${said(' ')}): ask the OMS team to authorize the client, or check RUNCTRL_OMS_AUDIENCE`,
      );
    }
    if (status === 401 || status === 403) {
      throw new UserError(`OMS at ${url} refused access (${status}${said(' ')}): ${this.howToAuth()}`);
    }
    if (status === 404) {
      throw new OmsNotFound(
        `OMS has no '${resource}' endpoint at ${url} (404): check the URL (expected …/agg/api/v1)`,
      );
    }
    if (status === 429) {
      throw new UserError(`OMS at ${url} is limiting the request rate (429): try again later`);
    }
    if (status >= 400 || status < 200) {
      throw new UserError(`OMS at ${url} refused the query (${status}${said(' ')})`);
    }
    return parsePage(body, url);
  }

  private howToAuth(): string {
    return this.auth
      ? 'check RUNCTRL_OMS_TOKEN_URL and RUNCTRL_OMS_AUDIENCE'
      : 'set RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET, or give an OMS token (RUNCTRL_OMS_TOKEN) or an SSO cookie (RUNCTRL_OMS_COOKIE)';
  }

  private scrub(text: string): string {
    return this.auth ? this.auth.scrub(text) : text;
  }

  private requestError(url: string, err: unknown): Error {
    if (err instanceof NetworkError) {
      if (err.code === 'ETIMEDOUT') {
        return new TransientError(`OMS at ${url} did not answer within ${this.timeoutMs} ms`);
      }
      return new TransientError(`cannot reach OMS at ${url} (${err.code}): check the network and the URL`);
    }
    return err instanceof Error ? err : new InternalError(String(err));
  }
}

/** A 404 from OMS. */
class OmsNotFound extends UserError {}

function positiveInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UserError(`invalid ${what} ${n}: give a positive integer`);
  return n;
}

function num(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return 0;
}

function runNumberOf(row: OmsRow | undefined): number | undefined {
  const v = row?.attributes?.run_number;
  return typeof v === 'number' ? v : undefined;
}

/** A run number from an OMS value (number or digits); undefined for null, '' or anything else. */
function runNumberValue(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** The era whose run range holds `run`; of overlapping ones, the one that starts last (the narrowest). */
export function eraHolding(eras: readonly OmsEra[], run: number): string | undefined {
  let best: OmsEra | undefined;
  for (const e of eras) {
    if (e.firstRun === undefined || run < e.firstRun || run > (e.lastRun ?? Infinity)) continue;
    if (!best || (best.firstRun ?? 0) < e.firstRun) best = e;
  }
  return best?.name;
}

/** Cuts sorted run numbers into [first, last] windows (see the module comment). */
export function batchWindows(sorted: readonly number[], maxGap: number, maxSpan: number): [number, number][] {
  const out: [number, number][] = [];
  let start: number | undefined;
  let end = 0;
  for (const n of sorted) {
    if (start === undefined) {
      start = end = n;
    } else if (n - end > maxGap || n - start >= maxSpan) {
      out.push([start, end]);
      start = end = n;
    } else {
      end = n;
    }
  }
  if (start !== undefined) out.push([start, end]);
  return out;
}

function components(a: Attrs): string[] {
  const c = a.components;
  if (Array.isArray(c))
    return c.filter((x): x is string => typeof x === 'string').map((x) => x.toUpperCase());
  if (typeof c === 'string') {
    return c
      .split(/[\s,;]+/)
      .filter(Boolean)
      .map((x) => x.toUpperCase());
  }
  return [];
}

function isGlobal(a: Attrs): boolean {
  if (typeof a.sequence === 'string' && a.sequence !== '') return a.sequence.toUpperCase() === 'GLOBAL-RUN';
  const comps = components(a);
  if (comps.length > 0) return comps.includes('TRG') && comps.length >= 3;
  const l1 = typeof a.l1_key === 'string' ? a.l1_key.trim() : '';
  const hlt = typeof a.hlt_key === 'string' ? a.hlt_key.trim() : '';
  return l1 !== '' && hlt.startsWith('/cdaq/');
}

function runClassOf(a: Attrs, stableBeams: boolean, yy: string): string {
  const mode = [a.l1_hlt_mode_stripped, a.l1_hlt_mode, a.hlt_key]
    .filter((x): x is string => typeof x === 'string')
    .join(' ');
  if (stableBeams || /collision|physics/i.test(mode)) return `Collisions${yy}`;
  if (/cosmic/i.test(mode)) return `Cosmics${yy}`;
  return `Commissioning${yy}`;
}

/** A luminosity in /pb from a value and OMS's unit text (e.g. `pb^{-1}`, `fb^{-1}`, `/nb`). */
export function toInversePb(value: number, units: unknown): number {
  if (value <= 0) return 0;
  const u = typeof units === 'string' ? units.toLowerCase().replace(/µ/g, 'u') : '';
  const m = /([fpnum])b/.exec(u);
  const factor = { f: 1000, p: 1, n: 1e-3, u: 1e-6, m: 1e-9 }[(m?.[1] ?? 'p') as 'f' | 'p' | 'n' | 'u' | 'm'];
  return value * factor;
}

function parsePage(body: string, url: string): OmsPage {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    const html = /^\s*</.test(body);
    throw new UserError(
      html
        ? `OMS at ${url} answered an HTML page instead of JSON, probably a login page: give an OMS token (RUNCTRL_OMS_TOKEN) or an SSO cookie (RUNCTRL_OMS_COOKIE)`
        : `OMS at ${url} answered something that is not JSON: check the URL (expected …/agg/api/v1)`,
    );
  }
  const data = typeof doc === 'object' && doc !== null ? (doc as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) {
    throw new UserError(`the answer of ${url} has no "data" list: is this the OMS API (…/agg/api/v1)?`);
  }
  const rows = data.filter((x): x is OmsRow => typeof x === 'object' && x !== null && !Array.isArray(x));
  return { data: rows, meta: (doc as { meta?: OmsPage['meta'] }).meta };
}

/** The server's own error text (JSON:API `errors[].detail|title`, or `message`), short. */
function serverMessage(body: string, sep: string): string {
  let text = '';
  try {
    const j = JSON.parse(body) as { errors?: { title?: unknown; detail?: unknown }[]; message?: unknown };
    const e = Array.isArray(j.errors) ? j.errors[0] : undefined;
    const t = e?.detail ?? e?.title ?? j.message;
    if (typeof t === 'string') text = t;
  } catch {
    if (!/^\s*</.test(body)) text = body.trim();
  }
  text = text.replace(/\s+/g, ' ').slice(0, 200);
  return text === '' ? '' : `${sep}${text}`;
}

/** Where a redirect points, without its query (which may carry login state). */
function redirectTarget(location: string | undefined): string {
  if (!location) return 'another page';
  try {
    const u = new URL(location);
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'another page';
  }
}
