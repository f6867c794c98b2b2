/** Campaigns and run types as held in memory (pure). */
import type { RunFilter } from './filter.js';
import type { WorkflowSpec } from './workflow.js';

export interface RunType {
  name: string;
  filter: RunFilter;
  /** Active workflows, in the order they were added. */
  workflows: string[];
  /** Workflows set aside by `deactivate`, restored by `reactivate`. */
  suspended: string[];
}

export interface Campaign {
  name: string;
  description: string;
  /** Unix ms of creation. */
  createdAt: number;
  rtypes: RunType[];
  workflows: WorkflowSpec[];
  /** Priority of its units (higher first, default 0); a workflow's own priority stands over it. */
  priority?: number;
}

/** Campaign activity is derived: active while any run type has an active workflow. */
export type Activity = 'active' | 'deactivated' | 'idle';

export function activityOf(c: Campaign): Activity {
  if (c.rtypes.some((t) => t.workflows.length > 0)) return 'active';
  if (c.rtypes.some((t) => t.suspended.length > 0)) return 'deactivated';
  return 'idle';
}

/** Every workflow active in any run type, sorted. */
export function activeWorkflows(c: Campaign): string[] {
  return [...new Set(c.rtypes.flatMap((t) => t.workflows))].sort();
}

export function rtypeOf(c: Campaign, name: string): RunType | undefined {
  return c.rtypes.find((t) => t.name === name);
}

/** Adds names not yet present (keeping order) and removes the given ones. */
export function editList(
  list: readonly string[],
  add: readonly string[],
  remove: readonly string[],
): string[] {
  const out = list.filter((w) => !remove.includes(w));
  for (const w of add) if (!out.includes(w)) out.push(w);
  return out;
}
