/** Workflows in dependency order (pure): the order of every view (grid, overview, status, charts, why). */
import type { WorkflowSpec } from './workflow.js';

/**
 * `names` in dependency order: by depth (the longest chain of dependencies below a workflow, so a
 * dependency always comes before its dependants), ties by name. Dependencies through workflows not in
 * `names` still count; a name without a definition has depth 0. A cycle (refused by `apply`) is cut.
 */
export function dependencyOrder(names: Iterable<string>, specs: readonly WorkflowSpec[]): string[] {
  const deps = new Map<string, readonly string[]>();
  for (const s of specs) deps.set(s.name, s.dependsOn);
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (n: string): number => {
    const known = depth.get(n);
    if (known !== undefined) return known;
    if (visiting.has(n)) return 0;
    visiting.add(n);
    let d = 0;
    for (const x of deps.get(n) ?? []) if (deps.has(x)) d = Math.max(d, depthOf(x) + 1);
    visiting.delete(n);
    depth.set(n, d);
    return d;
  };
  return [...new Set(names)].sort((a, b) => depthOf(a) - depthOf(b) || (a < b ? -1 : a > b ? 1 : 0));
}
