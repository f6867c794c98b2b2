/**
 * Stale results (pure): a `done` pair whose recorded inputs (src/domain/provenance.ts) are no longer its parent's
 * current `done` attempt — the parent was reprocessed, reset or re-ran since. For an era or group workflow, one
 * member's change makes every pair of its unit stale. Derived from the states alone (the ones any reader already
 * holds): no query, and only the done pairs of workflows with dependencies are read in full.
 */
import type { Campaign } from './campaign.js';
import { provenanceKey, type SourceKey } from './provenance.js';
import { stateKey, type RunState, type RunStateChange } from './state.js';
import { forEachProvenance, statusAndAttemptAt } from './state-table.js';
import type { RunStatus } from './status.js';

export interface StaleInfo {
  /** The parent pair that changed… */
  parent: { workflow: string; run: number };
  /** …the attempt of it this result used… */
  used: number;
  /** …and the parent as it is now. */
  now: { status: RunStatus | null; attempt: number };
  /** The unit of the result (for an era or group workflow, the change may be another member's). */
  unit: string;
  /** One line for a person: "ecal-reco re-ran (attempt 2); this result used attempt 1". */
  text: string;
}

/** How a parent changed, for a person. */
function changeText(s: SourceKey, now: StaleInfo['now']): string {
  const was = `this result used attempt ${s.attempt}`;
  if (now.status === 'done') return `${s.workflow} re-ran (attempt ${now.attempt}); ${was}`;
  if (now.status === 'failed') return `${s.workflow} failed since (attempt ${now.attempt}); ${was}`;
  if (now.status === null) return `${s.workflow} has no result for run ${s.run} any more; ${was}`;
  if (now.status === 'new') return `${s.workflow} was reset (now new); ${was}`;
  return `${s.workflow} is being reprocessed (${now.status}); ${was}`;
}

/** The first input of a result that is not its parent's current done attempt. */
function changedInput(
  states: ReadonlyMap<string, RunState>,
  from: readonly SourceKey[],
): { s: SourceKey; now: StaleInfo['now'] } | undefined {
  for (const s of from) {
    const cur = statusAndAttemptAt(states, s.workflow, s.run);
    if (cur?.status === 'done' && cur.attempt === s.attempt) continue;
    return { s, now: cur ? { status: cur.status, attempt: cur.attempt } : { status: null, attempt: 0 } };
  }
  return undefined;
}

/**
 * The stale pairs of a campaign (keyed by stateKey), optionally of some workflows only. A pair done before
 * provenance was recorded is never stale (nothing says what it was made from).
 */
export function staleResults(
  c: Campaign,
  states: ReadonlyMap<string, RunState>,
  only?: ReadonlySet<string>,
): Map<string, StaleInfo> {
  const out = new Map<string, StaleInfo>();
  for (const spec of c.workflows) {
    if (spec.dependsOn.length === 0 || (only && !only.has(spec.name))) continue;
    const grouped = spec.granularity.kind !== 'run';
    // for era and group workflows: the members of each unit (same unit, same attempt), and one change of it
    const units = new Map<string, { keys: string[]; info?: StaleInfo }>();
    forEachProvenance(states, spec.name, 'done', (run, attempt, inputsFrom) => {
      const p = provenanceKey(inputsFrom);
      if (!p) return;
      const key = stateKey(run, spec.name);
      const ch = changedInput(states, p.from);
      const info = ch && {
        parent: { workflow: ch.s.workflow, run: ch.s.run },
        used: ch.s.attempt,
        now: ch.now,
        unit: p.unit,
        text: `${grouped ? `run ${ch.s.run} of unit ${p.unit}: ` : ''}${changeText(ch.s, ch.now)}`,
      };
      if (!grouped) {
        if (info) out.set(key, info);
        return;
      }
      const u = `${p.unit}\u0000${attempt}`;
      let g = units.get(u);
      if (!g) units.set(u, (g = { keys: [] }));
      g.keys.push(key);
      if (info && !g.info) g.info = info;
    });
    for (const g of units.values()) {
      const info = g.info;
      if (info) for (const k of g.keys) out.set(k, info);
    }
  }
  return out;
}

/** Stale pairs per workflow (for `status` and the dashboard's counts). */
export function countStale(stale: ReadonlyMap<string, StaleInfo>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of stale.keys()) {
    const w = k.slice(0, k.lastIndexOf('\u0000'));
    out[w] = (out[w] ?? 0) + 1;
  }
  return out;
}

/**
 * The marks the loop writes for workflows declaring `"on_input_change": "reprocess"`: their stale pairs set to
 * reprocess, once every dependency of the pair is done again (for an era or group workflow: of every pair of its
 * unit, all marked together so that they form one unit again). Attempts are kept (the next one is higher).
 */
export function inputChangeMarks(
  c: Campaign,
  states: ReadonlyMap<string, RunState>,
  active: ReadonlySet<string>,
): RunStateChange[] {
  const follow = new Set(
    c.workflows.filter((w) => w.onInputChange === 'reprocess' && active.has(w.name)).map((w) => w.name),
  );
  if (follow.size === 0) return [];
  const deps = new Map(c.workflows.map((w) => [w.name, w.dependsOn]));
  const units = new Map<string, { pairs: RunState[]; info: StaleInfo; ready: boolean }>();
  for (const [key, info] of staleResults(c, states, follow)) {
    const s = states.get(key);
    if (!s) continue;
    const ready = (deps.get(s.workflow) ?? []).every(
      (d) => statusAndAttemptAt(states, d, s.run)?.status === 'done',
    );
    const u = `${s.workflow}\u0000${info.unit}\u0000${s.attempt}`;
    const g = units.get(u);
    if (g) {
      g.pairs.push(s);
      g.ready &&= ready;
    } else units.set(u, { pairs: [s], info, ready });
  }
  const out: RunStateChange[] = [];
  for (const g of units.values()) {
    if (!g.ready) continue;
    for (const s of g.pairs) {
      out.push({
        run: s.run,
        workflow: s.workflow,
        status: 'reprocess',
        attempt: s.attempt,
        tries: 0,
        reason: `inputs changed: ${g.info.text}`,
      });
    }
  }
  return out;
}
