/**
 * Campaign and workflow priorities (pure). A unit's priority is its workflow's `priority`, else its campaign's,
 * else 0; higher goes first. When an in-flight limit binds, the units a backend is offered are taken in the order
 * `priorityOrder` gives: every unit of a higher priority before any of a lower one, and at one priority the
 * campaigns take turns (round-robin), the least recently served first, so that none starves.
 *
 * "Least recently served" is derived from the jobs themselves (their submission times), never from state kept
 * in a process: a campaign's recent submissions, newest first, compared lexicographically (older first, fewer
 * first). Two campaigns served in the same millisecond are told apart by their earlier submissions, which
 * repeats the order of that pass: a turn interrupted at the end of one pass goes on in the next.
 */
import { UserError } from '../errors.js';
import type { Campaign } from './campaign.js';
import type { WorkflowSpec } from './workflow.js';

export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;
/** Submissions per campaign kept to tell turns apart (ties deeper than this fall back to the name). */
export const HISTORY = 8;

/** Validates a `priority` value of a campaign file (an integer from -1000 to 1000). */
export function parsePriority(raw: unknown, where: string): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < MIN_PRIORITY || raw > MAX_PRIORITY) {
    throw new UserError(
      `${where}: 'priority' must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY} (higher first, default 0)`,
    );
  }
  return raw;
}

/** The priority of a workflow's units: its own, else its campaign's, else 0. */
export function unitPriority(
  c: Pick<Campaign, 'priority'>,
  w: Pick<WorkflowSpec, 'priority'> | undefined,
): number {
  return w?.priority ?? c.priority ?? 0;
}

/** The highest priority any unit of these campaigns can have (the frame for backends that only lower). */
export function topPriority(campaigns: readonly Pick<Campaign, 'priority' | 'workflows'>[]): number {
  let top: number | undefined;
  for (const c of campaigns) {
    for (const w of c.workflows) {
      const p = unitPriority(c, w);
      if (top === undefined || p > top) top = p;
    }
  }
  return top ?? 0;
}

/** A campaign's recent submission times (ms), newest first, at most HISTORY of them. */
export function recentSubmissions(times: Iterable<number>): number[] {
  const out: number[] = [];
  for (const t of times) {
    if (out.length === HISTORY && t <= (out[HISTORY - 1] as number)) continue;
    let i = out.length;
    while (i > 0 && (out[i - 1] as number) < t) i--;
    out.splice(i, 0, t);
    if (out.length > HISTORY) out.pop();
  }
  return out;
}

/** Negative when campaign a was served less recently than b (see the header). */
export function servedBefore(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export interface Prioritized {
  campaign: string;
  priority: number;
}

/**
 * The items in submission order: by priority (highest first), then round-robin over the campaigns of one
 * priority (least recently served first, by `served`: recent submissions per campaign, see recentSubmissions),
 * each campaign's items in the order given. Stable and pure.
 */
export function priorityOrder<T>(
  items: readonly T[],
  key: (t: T) => Prioritized,
  served: ReadonlyMap<string, readonly number[]>,
): T[] {
  const levels = new Map<number, Map<string, T[]>>();
  for (const t of items) {
    const { campaign, priority } = key(t);
    let level = levels.get(priority);
    if (!level) levels.set(priority, (level = new Map()));
    let list = level.get(campaign);
    if (!list) level.set(campaign, (list = []));
    list.push(t);
  }
  const out: T[] = [];
  for (const p of [...levels.keys()].sort((a, b) => b - a)) {
    const level = levels.get(p) as Map<string, T[]>;
    const turns = [...level.keys()].sort(
      (a, b) => servedBefore(served.get(a) ?? [], served.get(b) ?? []) || (a < b ? -1 : a > b ? 1 : 0),
    );
    const lists = turns.map((c) => level.get(c) as T[]);
    for (let i = 0; lists.some((l) => i < l.length); i++)
      for (const l of lists) if (i < l.length) out.push(l[i] as T);
  }
  return out;
}
