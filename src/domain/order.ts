/** Workflows in dependency order (pure): the order of every view (grid, overview, status, charts, why). */
import type { WorkflowSpec } from './workflow.js';

/**
 * `names` in topological order of their dependencies (a dependency before its dependants), ties by name:
 * Kahn's algorithm taking the smallest ready name first. Dependencies through workflows not in `names` still
 * order them; a name without a definition has none. A cycle (refused by `apply`) falls back to name order.
 */
export function dependencyOrder(names: Iterable<string>, specs: readonly WorkflowSpec[]): string[] {
  const wanted = new Set(names);
  const deps = new Map<string, string[]>();
  for (const s of specs) deps.set(s.name, s.dependsOn);
  const all = new Set<string>([...wanted, ...deps.keys()]);
  const indegree = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const n of all) indegree.set(n, 0);
  for (const n of all)
    for (const d of new Set(deps.get(n) ?? [])) {
      if (!all.has(d)) continue;
      indegree.set(n, (indegree.get(n) ?? 0) + 1);
      dependants.set(d, [...(dependants.get(d) ?? []), n]);
    }
  const ready = [...all].filter((n) => indegree.get(n) === 0).sort();
  const out: string[] = [];
  while (ready.length > 0) {
    const n = ready.shift() as string;
    out.push(n);
    for (const m of dependants.get(n) ?? []) {
      const k = (indegree.get(m) ?? 0) - 1;
      indegree.set(m, k);
      if (k === 0) insertSorted(ready, m);
    }
  }
  const rest = [...all].filter((n) => !out.includes(n)).sort();
  return [...out, ...rest].filter((n) => wanted.has(n));
}

function insertSorted(list: string[], v: string): void {
  let i = 0;
  while (i < list.length && (list[i] ?? '') < v) i++;
  list.splice(i, 0, v);
}
