/**
 * A run source over a run-registry FILE, JSON or CSV (chosen by the extension: `.json` or `.csv`).
 * The file is read once, lazily (on the first `fetch` or `eras`), validated as a whole, and then every
 * query is answered from memory.
 *
 * JSON: an array of run objects, or `{ "runs": [ … ] }`.
 * CSV: a header row naming the fields, then one run per line. RFC 4180 quoting (`"a,b"`, `""` for a quote
 * inside a quoted cell); blank lines and lines starting with `#` are skipped; an empty cell means "not
 * given" (the default applies).
 *
 * Fields — camelCase as in `RunInfo`, or snake_case; unknown keys/columns are ignored:
 *
 * | field         | also accepted as                 | value                                             | default  |
 * |---------------|----------------------------------|---------------------------------------------------|----------|
 * | run           | run_number, runNumber            | positive integer, unique in the file              | required |
 * | era           |                                  | non-empty string, e.g. Run2024C                   | required |
 * | startTime     | start_time                       | Unix seconds, or ISO 8601 (UTC when no zone)      | required |
 * | endTime       | end_time                         | as startTime, ≥ startTime; null/empty = ongoing   | null     |
 * | fill          | fill_number, fillNumber          | non-negative integer                              | 0        |
 * | global        | is_global                        | boolean                                           | false    |
 * | stableBeams   | stable_beams, stable_beam        | boolean                                           | false    |
 * | runClass      | run_class, class                 | string, e.g. Collisions24                         | ''       |
 * | deliveredLumi | delivered_lumi                   | number ≥ 0, in /pb                                | 0        |
 * | recordedLumi  | recorded_lumi                    | number ≥ 0, in /pb                                | 0        |
 * | beamEnergy    | beam_energy, energy              | number ≥ 0, in GeV                                | 0        |
 * | magnetCurrent | magnet_current                   | number ≥ 0, in A                                  | 0        |
 * | quality       |                                  | see below                                         | {}       |
 *
 * Booleans: JSON true/false, or (CSV, and strings in JSON) true/false, 1/0, yes/no, y/n, t/f.
 * Quality: in JSON an object `{ "ecal": true, "tracker": "bad" }`; in CSV (or as a JSON string) a list
 * `ecal:good;tracker:bad` — subsystem names separated by `;` (or `|`), each `name:value` with value
 * good/bad, true/false or 1/0. Example CSV:
 *
 *     run_number,fill_number,era,start_time,end_time,global,stable_beams,run_class,recorded_lumi,quality
 *     380310,9573,Run2024D,2024-04-27T10:02:11Z,2024-04-27T13:40:52Z,true,true,Collisions24,95.2,ecal:good;hcal:good
 *
 * A malformed record is a `UserError` naming the file, the record (JSON: its index, counted from 1; CSV:
 * its line number) and the field.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { RunInfo } from '../domain/run.js';
import type { RunQuery, RunSource } from './source.js';

export type RegistryFormat = 'json' | 'csv';

/** The registry format of a file, from its extension. */
export function registryFormatOf(file: string): RegistryFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.csv') return 'csv';
  throw new UserError(
    `run registry file '${file}' has an unknown extension '${ext || '(none)'}': give a .json or .csv file, or an OMS URL (oms:https://…)`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Queries (shared with the OMS source, which filters client-side too)

/** Checks a query's values; throws a UserError for impossible ones. */
export function validateQuery(q: RunQuery): void {
  const isRun = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
  if (q.runs !== undefined) {
    const bad = q.runs.find((n) => !isRun(n));
    if (bad !== undefined) throw new UserError(`invalid run number '${String(bad)}': give positive integers`);
  }
  if (q.range !== undefined) {
    if (!isRun(q.range.min) || !isRun(q.range.max)) {
      throw new UserError(`invalid run range ${q.range.min}-${q.range.max}: give positive integers`);
    }
    if (q.range.min > q.range.max) {
      throw new UserError(`invalid run range ${q.range.min}-${q.range.max}: the first run is above the last`);
    }
  }
  if (q.after !== undefined && (!Number.isSafeInteger(q.after) || q.after < 0)) {
    throw new UserError(`invalid run number '${q.after}' after which to look: give a non-negative integer`);
  }
  if (q.era !== undefined && q.era.trim() === '')
    throw new UserError('empty era name: give one such as Run2024C');
}

/** Whether a run satisfies every condition of a query (conditions combine with AND). */
export function queryMatches(q: RunQuery, r: RunInfo, wanted?: ReadonlySet<number>): boolean {
  if (q.runs !== undefined && !(wanted ?? new Set(q.runs)).has(r.run)) return false;
  if (q.range !== undefined && (r.run < q.range.min || r.run > q.range.max)) return false;
  if (q.after !== undefined && r.run <= q.after) return false;
  if (q.era !== undefined && r.era !== q.era) return false;
  return true;
}

/** A copy that callers may change without touching the source's cache. */
export function copyRun(r: RunInfo): RunInfo {
  return { ...r, quality: { ...r.quality } };
}

// ---------------------------------------------------------------------------------------------------------
// Value parsing (shared with the OMS source)

const ISO_ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Unix seconds from a number of seconds or an ISO 8601 string (read as UTC when it has no zone).
 * Returns an error text instead of throwing, so callers can say where the value came from.
 */
export function toUnixSeconds(v: unknown): number | string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return `expected Unix seconds or an ISO 8601 time, got ${v}`;
    if (v > 1e11) return `${v} looks like milliseconds: give Unix seconds`;
    return Math.floor(v);
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return toUnixSeconds(Number(s));
    if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
      const withZone = ISO_ZONE.test(s) ? s : `${s.replace(' ', 'T')}Z`;
      const ms = Date.parse(withZone);
      if (Number.isFinite(ms)) return Math.floor(ms / 1000);
    }
    return `expected Unix seconds or an ISO 8601 time such as 2024-05-01T12:00:00Z, got '${s}'`;
  }
  return `expected Unix seconds or an ISO 8601 time, got ${describeValue(v)}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'y', 't', 'good']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'n', 'f', 'bad']);

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE_WORDS.has(s)) return true;
    if (FALSE_WORDS.has(s)) return false;
  }
  return undefined;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Quality flags from `ecal:good;tracker:bad` or an object; an error text when malformed. */
export function parseQuality(v: unknown): Record<string, boolean> | string {
  const out: Record<string, boolean> = {};
  if (typeof v === 'string') {
    for (const part of v.split(/[;|]/)) {
      const item = part.trim();
      if (item === '') continue;
      const m = /^([A-Za-z0-9_.-]+)\s*[:=]\s*(\S+)$/.exec(item);
      const flag = m?.[2] === undefined ? undefined : toBool(m[2]);
      if (!m?.[1] || flag === undefined) {
        return `expected 'subsystem:good' or 'subsystem:bad' items separated by ';', got '${item}'`;
      }
      out[m[1]] = flag;
    }
    return out;
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, raw] of Object.entries(v)) {
      const flag = toBool(raw);
      if (flag === undefined) return `flag '${k}' must be true/false or good/bad, got ${describeValue(raw)}`;
      out[k] = flag;
    }
    return out;
  }
  return `expected an object of flags or 'ecal:good;tracker:bad', got ${describeValue(v)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Records

type Field = keyof RunInfo;

/** Accepted spellings of each field, the canonical one first. */
const ALIASES: Record<Field, readonly string[]> = {
  run: ['run', 'run_number', 'runNumber'],
  fill: ['fill', 'fill_number', 'fillNumber'],
  era: ['era'],
  startTime: ['startTime', 'start_time'],
  endTime: ['endTime', 'end_time'],
  global: ['global', 'is_global'],
  stableBeams: ['stableBeams', 'stable_beams', 'stable_beam'],
  runClass: ['runClass', 'run_class', 'class'],
  deliveredLumi: ['deliveredLumi', 'delivered_lumi'],
  recordedLumi: ['recordedLumi', 'recorded_lumi'],
  beamEnergy: ['beamEnergy', 'beam_energy', 'energy'],
  magnetCurrent: ['magnetCurrent', 'magnet_current'],
  quality: ['quality'],
};

/** A record under validation: where it is, and its raw values by key. */
interface RawRecord {
  /** e.g. `data/x.json: record #12` or `data/x.csv:14`. */
  where: string;
  /** Short form for cross-references, e.g. `record #12` or `line 14`. */
  label: string;
  values: Map<string, unknown>;
}

function isAbsent(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/** Turns one raw record into a RunInfo, or throws a UserError naming the file, record and field. */
function toRunInfo(rec: RawRecord): RunInfo {
  let runLabel = '';
  const fail = (key: string, msg: string): never => {
    throw new UserError(`${rec.where}${runLabel}: field '${key}': ${msg}`);
  };
  const get = (field: Field): { key: string; value: unknown } | undefined => {
    let found: { key: string; value: unknown } | undefined;
    for (const key of ALIASES[field]) {
      const value = rec.values.get(key);
      if (isAbsent(value)) continue;
      if (found) fail(key, `given twice (also as '${found.key}')`);
      found = { key, value };
    }
    return found;
  };
  const required = (field: Field): { key: string; value: unknown } =>
    get(field) ?? fail(ALIASES[field].join("' or '"), 'missing');
  const integer = (field: Field, min: number, dflt?: number): number => {
    const f = dflt === undefined ? required(field) : get(field);
    if (!f) return dflt ?? 0;
    const n = toNumber(f.value);
    if (n === undefined || !Number.isSafeInteger(n) || n < min) {
      return fail(f.key, `expected an integer ≥ ${min}, got ${describeValue(f.value)}`);
    }
    return n;
  };
  const real = (field: Field): number => {
    const f = get(field);
    if (!f) return 0;
    const n = toNumber(f.value);
    if (n === undefined || n < 0) {
      return fail(f.key, `expected a non-negative number, got ${describeValue(f.value)}`);
    }
    return n;
  };
  const bool = (field: Field): boolean => {
    const f = get(field);
    if (!f) return false;
    const b = toBool(f.value);
    return b ?? fail(f.key, `expected true or false, got ${describeValue(f.value)}`);
  };
  const time = (f: { key: string; value: unknown }): number => {
    const t = toUnixSeconds(f.value);
    return typeof t === 'string' ? fail(f.key, t) : t;
  };
  const text = (f: { key: string; value: unknown }): string =>
    typeof f.value === 'string'
      ? f.value.trim()
      : fail(f.key, `expected a string, got ${describeValue(f.value)}`);

  const run = integer('run', 1);
  runLabel = ` (run ${run})`;
  const era = text(required('era'));
  const start = required('startTime');
  const startTime = time(start);
  const end = get('endTime');
  const endTime = end ? time(end) : null;
  if (end && endTime !== null && endTime < startTime) {
    fail(end.key, `the run ends (${endTime}) before it starts (${startTime})`);
  }
  const cls = get('runClass');
  const q = get('quality');
  let quality: Record<string, boolean> = {};
  if (q) {
    const parsed = parseQuality(q.value);
    quality = typeof parsed === 'string' ? fail(q.key, parsed) : parsed;
  }
  return {
    run,
    fill: integer('fill', 0, 0),
    era,
    startTime,
    endTime,
    global: bool('global'),
    stableBeams: bool('stableBeams'),
    runClass: cls ? text(cls) : '',
    deliveredLumi: real('deliveredLumi'),
    recordedLumi: real('recordedLumi'),
    beamEnergy: real('beamEnergy'),
    magnetCurrent: real('magnetCurrent'),
    quality,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Fast path for JSON records

/** Spellings other than the canonical one: a record using any of them takes the full path. */
const OTHER_SPELLINGS = Object.values(ALIASES).flatMap((a) => a.slice(1));

const isGiven = (v: unknown): boolean => v !== undefined && v !== null;

/** Unix seconds of a JSON number the full path accepts as such; undefined otherwise. */
function fastSeconds(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e11 ? Math.floor(v) : undefined;
}

function fastReal(v: unknown): number | undefined {
  if (!isGiven(v)) return 0;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function fastBool(v: unknown): boolean | undefined {
  if (!isGiven(v)) return false;
  return typeof v === 'boolean' ? v : undefined;
}

function fastQuality(v: unknown): Record<string, boolean> | undefined {
  const out: Record<string, boolean> = {};
  if (!isGiven(v)) return out;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const q = v as Record<string, unknown>;
  for (const k of Object.keys(q)) {
    const flag = q[k];
    if (typeof flag !== 'boolean') return undefined;
    out[k] = flag;
  }
  return out;
}

/**
 * The RunInfo of a JSON record in the common form — canonical keys, values of their JSON type, all valid —
 * equal to what {@link toRunInfo} makes of it; undefined for any other record (left to the full path).
 */
export function fastRunInfo(o: Record<string, unknown>): RunInfo | undefined {
  for (const k of OTHER_SPELLINGS) if (isGiven(o[k])) return undefined;
  const { run, era, endTime: end, fill = 0, runClass = '' } = o;
  if (typeof run !== 'number' || !Number.isSafeInteger(run) || run < 1) return undefined;
  if (typeof era !== 'string' || era.trim() === '') return undefined;
  const startTime = fastSeconds(o.startTime);
  const endTime = isGiven(end) ? fastSeconds(end) : null;
  if (startTime === undefined || endTime === undefined || (endTime !== null && endTime < startTime))
    return undefined;
  if (!(
    (fill === null || (Number.isSafeInteger(fill) && (fill as number) >= 0)) &&
    (runClass === null || typeof runClass === 'string')
  ))
    return undefined;
  const r = {
    run,
    fill: (fill ?? 0) as number,
    era: era.trim(),
    startTime,
    endTime,
    global: fastBool(o.global),
    stableBeams: fastBool(o.stableBeams),
    runClass: (runClass ?? '').trim(),
    deliveredLumi: fastReal(o.deliveredLumi),
    recordedLumi: fastReal(o.recordedLumi),
    beamEnergy: fastReal(o.beamEnergy),
    magnetCurrent: fastReal(o.magnetCurrent),
    quality: fastQuality(o.quality),
  };
  return allDefined(r) ? r : undefined;
}

type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> };

function allDefined<T extends object>(r: T): r is Defined<T> & T {
  for (const k in r) if (r[k] === undefined) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// File formats

/**
 * The line of a JSON syntax error when the parser does not say (newer V8 messages give no position):
 * in the usual one-run-per-line layout, the first `{…}` line that does not parse on its own.
 */
function badJsonLine(text: string): number | undefined {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = (lines[i] ?? '').trim().replace(/,$/, '');
    if (!l.startsWith('{') || !l.endsWith('}')) continue;
    try {
      JSON.parse(l);
    } catch {
      return i + 1;
    }
  }
  return undefined;
}

/** The records of a registry, validated one at a time (so errors come in file order). */
interface Records {
  length: number;
  /** The validated run of record i, or a UserError naming the file, record and field. */
  run(i: number): RunInfo;
  /** Short form for cross-references, e.g. `record #12` or `line 14`. */
  label(i: number): string;
  /** e.g. `data/x.json: record #12` or `data/x.csv:14`. */
  where(i: number): string;
}

function jsonRecords(text: string, file: string): Records {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(msg)?.[1];
    const line = pos === undefined ? badJsonLine(text) : text.slice(0, Number(pos)).split('\n').length;
    throw new UserError(`${file}${line === undefined ? '' : `:${line}`}: not valid JSON (${msg})`);
  }
  const list = Array.isArray(doc)
    ? doc
    : typeof doc === 'object' && doc !== null && Array.isArray((doc as { runs?: unknown }).runs)
      ? (doc as { runs: unknown[] }).runs
      : undefined;
  if (!list) throw new UserError(`${file}: expected a JSON array of runs or an object { "runs": [ … ] }`);
  const label = (i: number): string => `record #${i + 1}`;
  const where = (i: number): string => `${file}: ${label(i)}`;
  const objects = list as Record<string, unknown>[];
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new UserError(`${where(i)}: expected an object, got ${describeValue(item)}`);
    }
  }
  // the common case (canonical keys, JSON types) takes the fast path; anything else the full one, which
  // accepts every other spelling and gives the error messages
  const full = (i: number): RunInfo =>
    toRunInfo({ where: where(i), label: label(i), values: new Map(Object.entries(objects[i] ?? {})) });
  return { length: list.length, run: (i) => fastRunInfo(objects[i] ?? {}) ?? full(i), label, where };
}

/** Splits CSV text into rows of cells with the line number each row starts on (RFC 4180 quoting). */
export function parseCsv(text: string, file: string): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let rowHasContent = false;
  const endRow = (): void => {
    cells.push(cell);
    const blank = !rowHasContent && cells.length === 1 && cells[0]?.trim() === '';
    const comment = !rowHasContent && (cells[0] ?? '').trimStart().startsWith('#');
    if (!blank && !comment) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
    rowHasContent = false;
  };
  const src = text.startsWith('\ufeff') ? text.slice(1) : text;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === '"' && cell.trim() === '') {
      quoted = true;
      rowHasContent = true;
      cell = '';
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
      rowHasContent = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      cell += c;
    }
  }
  if (quoted) throw new UserError(`${file}:${rowLine}: a quoted cell is not closed`);
  if (cell !== '' || cells.length > 0) endRow();
  return rows;
}

function csvRecords(text: string, file: string): Records {
  const recs = csvRawRecords(text, file);
  return {
    length: recs.length,
    run: (i) => toRunInfo(recs[i] as RawRecord),
    label: (i) => recs[i]?.label ?? '',
    where: (i) => recs[i]?.where ?? file,
  };
}

function csvRawRecords(text: string, file: string): RawRecord[] {
  const rows = parseCsv(text, file);
  const head = rows.shift();
  if (!head) return [];
  const names = head.cells.map((c) => c.trim());
  if (!names.some((n) => ALIASES.run.includes(n))) {
    throw new UserError(
      `${file}:${head.line}: the header has no run column: the first line must name the columns, e.g. run_number,era,start_time,…`,
    );
  }
  const dup = names.find((n, i) => n !== '' && names.indexOf(n) !== i);
  if (dup !== undefined)
    throw new UserError(`${file}:${head.line}: column '${dup}' appears twice in the header`);
  return rows.map(({ line, cells }) => {
    const where = `${file}:${line}`;
    if (cells.length !== names.length) {
      throw new UserError(`${where}: ${cells.length} cells, but the header names ${names.length} columns`);
    }
    const values = new Map<string, unknown>();
    names.forEach((n, i) => {
      if (n !== '') values.set(n, cells[i]?.trim() ?? '');
    });
    return { where, label: `line ${line}`, values };
  });
}

/** Parses and validates a whole registry text; runs sorted by run number. */
export function parseRegistry(text: string, format: RegistryFormat, file: string): RunInfo[] {
  const records = format === 'json' ? jsonRecords(text, file) : csvRecords(text, file);
  const seen = new Map<number, number>();
  const runs = new Array<RunInfo>(records.length);
  let sorted = true;
  for (let i = 0; i < records.length; i++) {
    const r = records.run(i);
    const before = seen.get(r.run);
    if (before !== undefined) {
      throw new UserError(
        `${records.where(i)} (run ${r.run}): run ${r.run} appears twice (first at ${records.label(before)}): keep one record per run`,
      );
    }
    seen.set(r.run, i);
    if (i > 0 && r.run < (runs[i - 1] as RunInfo).run) sorted = false;
    runs[i] = r;
  }
  return sorted ? runs : runs.sort((a, b) => a.run - b.run);
}

// ---------------------------------------------------------------------------------------------------------
// The source

interface Loaded {
  runs: RunInfo[];
  byRun: Map<number, RunInfo>;
  eras: string[];
}

export interface RegistryOptions {
  /** Overrides the format chosen by extension. */
  format?: RegistryFormat;
  /** The file name used in messages and `describe` (default: the path given). */
  displayName?: string;
}

export class RegistrySource implements RunSource {
  readonly describe: string;
  readonly file: string;
  readonly format: RegistryFormat;
  private readonly name: string;
  private loading: Promise<Loaded> | undefined;

  constructor(file: string, opts: RegistryOptions = {}) {
    this.file = file;
    this.name = opts.displayName ?? file;
    this.format = opts.format ?? registryFormatOf(file);
    this.describe = `registry ${this.name}`;
  }

  async fetch(q: RunQuery): Promise<RunInfo[]> {
    validateQuery(q);
    const { runs, byRun } = await this.load();
    if (q.runs !== undefined) {
      const wanted = new Set(q.runs);
      return [...wanted]
        .sort((a, b) => a - b)
        .map((n) => byRun.get(n))
        .filter((r): r is RunInfo => r !== undefined && queryMatches(q, r, wanted))
        .map(copyRun);
    }
    let lo = 0;
    let hi = runs.length;
    const min = Math.max(q.range?.min ?? 0, q.after === undefined ? 0 : q.after + 1);
    if (min > 0) lo = lowerBound(runs, min);
    if (q.range !== undefined) hi = lowerBound(runs, q.range.max + 1);
    const out: RunInfo[] = [];
    for (let i = lo; i < hi; i++) {
      const r = runs[i];
      if (r !== undefined && queryMatches(q, r)) out.push(copyRun(r));
    }
    return out;
  }

  async eras(): Promise<string[]> {
    return [...(await this.load()).eras];
  }

  /** Number of runs in the file (loads it). */
  async size(): Promise<number> {
    return (await this.load()).runs.length;
  }

  private load(): Promise<Loaded> {
    this.loading ??= this.read().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  private async read(): Promise<Loaded> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new UserError(
          `run registry file '${this.name}' does not exist: give an existing .json or .csv file (or an OMS URL) with --run-source or RUNCTRL_RUN_SOURCE`,
        );
      }
      if (code === 'EISDIR')
        throw new UserError(`run registry '${this.name}' is a directory: give a .json or .csv file`);
      if (code === 'EACCES')
        throw new UserError(`cannot read run registry file '${this.name}': permission denied`);
      throw new UserError(`cannot read run registry file '${this.name}': ${(err as Error).message}`);
    }
    const runs = parseRegistry(text, this.format, this.name);
    return {
      runs,
      byRun: new Map(runs.map((r) => [r.run, r])),
      eras: [...new Set(runs.map((r) => r.era))].sort(),
    };
  }
}

/** Index of the first run with a number ≥ n (runs sorted). */
function lowerBound(runs: readonly RunInfo[], n: number): number {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((runs[mid]?.run ?? Infinity) < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
