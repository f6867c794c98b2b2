/**
 * Provenance of a run × workflow result: when a unit is submitted, each of its pairs records which attempt of
 * each parent pair (same run, each `depends_on` workflow) its `{inputs}` came from, and the outputs given. Stored
 * with the pair's status points (field `inputs_from` of `run`, carried from `processing` to `done`) as a key, a
 * tab, and compact JSON: `UNIT WORKFLOW:RUN:ATTEMPT…` TAB `{"u":UNIT,"f":[[WORKFLOW,RUN,ATTEMPT,[OUTPUT…]]…]}`.
 * The key (names, numbers and the unit label, none holding a space, a colon or a tab) is all that staleness
 * needs: it is read without parsing the JSON, which holds the outputs given for display. Pure.
 */

export interface InputSource {
  workflow: string;
  run: number;
  attempt: number;
  outputs: string[];
}

export interface Provenance {
  /** The unit the pair was submitted in (`r<run>` or `g<label>-<first>-<last>`). */
  unit: string;
  from: InputSource[];
}

type Stored = { u: string; f: [string, number, number, string[]][] };

export function encodeProvenance(p: Provenance): string {
  const s: Stored = { u: p.unit, f: p.from.map((x) => [x.workflow, x.run, x.attempt, x.outputs]) };
  const key = [p.unit, ...p.from.map((x) => `${x.workflow}:${x.run}:${x.attempt}`)].join(' ');
  return `${key}\t${JSON.stringify(s)}`;
}

/** The parent pairs of a provenance key (no outputs): what staleness compares. */
export type SourceKey = Omit<InputSource, 'outputs'>;

/** The unit and parent pairs of stored provenance, from its key alone; undefined when none or unreadable. */
export function provenanceKey(text: string | undefined): { unit: string; from: SourceKey[] } | undefined {
  if (!text) return undefined;
  const end = text.indexOf('\t');
  if (end < 0) return undefined;
  let i = text.indexOf(' ');
  if (i < 0 || i > end) return end > 0 ? { unit: text.slice(0, end), from: [] } : undefined;
  const unit = text.slice(0, i);
  const from: SourceKey[] = [];
  // WORKFLOW:RUN:ATTEMPT, space separated, scanned in place (thousands of pairs per read)
  while (i < end) {
    const c1 = text.indexOf(':', i + 1);
    if (c1 < 0 || c1 > end || c1 === i + 1) return undefined;
    const [run, j] = digits(text, c1 + 1);
    if (text.charCodeAt(j) !== 58 /* : */) return undefined;
    const [attempt, k] = digits(text, j + 1);
    if (run < 0 || attempt < 0 || (k !== end && text.charCodeAt(k) !== 32)) return undefined;
    from.push({ workflow: text.slice(i + 1, c1), run, attempt });
    i = k;
  }
  return { unit, from };
}

/** The non-negative integer written at `at` (-1 when none) and where it ends. */
function digits(text: string, at: number): [number, number] {
  let v = 0;
  let i = at;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57 && i - at < 15; c = text.charCodeAt(++i))
    v = v * 10 + c - 48;
  return [i === at ? -1 : v, i];
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);

function source(v: unknown): InputSource | undefined {
  if (!Array.isArray(v) || v.length !== 4) return undefined;
  const [workflow, run, attempt, outputs] = v as unknown[];
  if (!isStr(workflow) || !isInt(run) || !isInt(attempt)) return undefined;
  if (!Array.isArray(outputs) || !outputs.every(isStr)) return undefined;
  return { workflow, run, attempt, outputs };
}

/** The provenance stored with a pair; undefined when none was recorded or it is unreadable (never throws). */
export function decodeProvenance(text: string | undefined): Provenance | undefined {
  const tab = text ? text.indexOf('\t') : -1;
  if (!text || tab < 0) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text.slice(tab + 1));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { u, f } = v as { u?: unknown; f?: unknown };
  if (!isStr(u) || !Array.isArray(f)) return undefined;
  const from: InputSource[] = [];
  for (const x of f) {
    const s = source(x);
    if (!s) return undefined;
    from.push(s);
  }
  return { unit: u, from };
}

/** "made from ecal-reco attempt 1, laser attempt 3" (one line for a person). */
export function describeProvenance(p: Provenance): string {
  if (p.from.length === 0) return `unit ${p.unit}: no inputs`;
  const parts = new Map<string, Set<number>>();
  for (const s of p.from) {
    let a = parts.get(s.workflow);
    if (!a) parts.set(s.workflow, (a = new Set()));
    a.add(s.attempt);
  }
  const list = [...parts].map(([w, a]) => `${w} attempt ${[...a].sort((x, y) => x - y).join('/')}`);
  return `made from ${list.join(', ')}`;
}
