/**
 * Provenance of a run × workflow result: when a unit is submitted, each of its pairs records which attempt of
 * each parent pair (same run, each `depends_on` workflow) its `{inputs}` came from, and the outputs given. Stored
 * with the pair's status points (field `inputs_from` of `run`, carried from `processing` to `done`), as compact
 * JSON: `{"u":UNIT,"f":[[WORKFLOW,RUN,ATTEMPT,[OUTPUT…]]…]}`. Pure.
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
  return JSON.stringify(s);
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
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
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
