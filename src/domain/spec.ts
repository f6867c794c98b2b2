/** Declarative campaign files (campaigns/NAME.json): parsing and the pure diff against the database. */
import { UserError } from '../errors.js';
import { activityOf, type Campaign, type RunType } from './campaign.js';
import { describeFilter, parseFilter } from './filter.js';
import { checkName } from './names.js';
import { parsePriority } from './priority.js';
import { checkDependencies, parseWorkflow, type WorkflowSpec } from './workflow.js';

export interface CampaignSpec {
  campaign: string;
  description: string;
  /** Priority of the campaign's units (higher first, default 0). */
  priority: number;
  rtypes: { name: string; filter: RunType['filter']; workflows: string[] }[];
  workflows: WorkflowSpec[];
}

export function parseSpec(raw: unknown, where: string): CampaignSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${where}: the file must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  const known = ['campaign', 'description', 'rtypes', 'workflows', 'priority', '$comment'];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new UserError(`${where}: unknown key '${k}' (known: ${known.join(', ')})`);
  }
  if (typeof o.campaign !== 'string')
    throw new UserError(`${where}: 'campaign' (the campaign name) is missing`);
  checkName('campaign', o.campaign);
  const description = o.description ?? '';
  if (typeof description !== 'string') throw new UserError(`${where}: 'description' must be a string`);
  const rtRaw = o.rtypes ?? {};
  if (typeof rtRaw !== 'object' || rtRaw === null || Array.isArray(rtRaw)) {
    throw new UserError(`${where}: 'rtypes' must be an object of run types`);
  }
  const wfRaw = o.workflows ?? {};
  if (typeof wfRaw !== 'object' || wfRaw === null || Array.isArray(wfRaw)) {
    throw new UserError(`${where}: 'workflows' must be an object of workflow definitions`);
  }
  const workflows = Object.entries(wfRaw as Record<string, unknown>).map(([n, v]) =>
    parseWorkflow(n, v, where),
  );
  checkDependencies(workflows, where);
  const defined = new Set(workflows.map((w) => w.name));
  const rtypes = Object.entries(rtRaw as Record<string, unknown>).map(([name, v]) => {
    checkName('run type', name);
    const at = `${where}: run type '${name}'`;
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new UserError(`${at} must be an object`);
    const t = v as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (!['filter', 'workflows'].includes(k))
        throw new UserError(`${at}: unknown key '${k}' (known: filter, workflows)`);
    }
    const wl = t.workflows ?? [];
    if (!Array.isArray(wl) || wl.some((w) => typeof w !== 'string'))
      throw new UserError(`${at}: 'workflows' must be a list of names`);
    for (const w of wl as string[]) {
      checkName('workflow', w);
      if (defined.size > 0 && !defined.has(w)) {
        throw new UserError(
          `${at}: workflow '${w}' is not defined under 'workflows' (defined: ${[...defined].join(', ')})`,
        );
      }
    }
    return { name, filter: parseFilter(t.filter, at), workflows: [...new Set(wl as string[])] };
  });
  if (rtypes.length === 0) throw new UserError(`${where}: define at least one run type under 'rtypes'`);
  const priority = parsePriority(o.priority, where) ?? 0;
  return { campaign: o.campaign, description, priority, rtypes, workflows };
}

export type SpecChange =
  | { kind: 'create-campaign'; name: string; detail: string }
  | { kind: 'description'; name: string; detail: string }
  | { kind: 'priority'; name: string; detail: string }
  | { kind: 'add-rtype' | 'update-rtype' | 'remove-rtype'; name: string; detail: string; rtype: RunType }
  | {
      kind: 'add-workflow' | 'update-workflow' | 'remove-workflow';
      name: string;
      detail: string;
      workflow: WorkflowSpec;
    };

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * What must change so that the database holds the spec. Run types and workflows absent from the spec are
 * removed. On a deactivated campaign the spec's workflow lists are kept as the suspended set.
 */
export function diffSpec(spec: CampaignSpec, current: Campaign | undefined): SpecChange[] {
  const out: SpecChange[] = [];
  const deactivated = current !== undefined && activityOf(current) === 'deactivated';
  if (!current) out.push({ kind: 'create-campaign', name: spec.campaign, detail: spec.description });
  else if (current.description !== spec.description) {
    out.push({
      kind: 'description',
      name: spec.campaign,
      detail: `'${current.description}' -> '${spec.description}'`,
    });
  }
  if (current && (current.priority ?? 0) !== spec.priority) {
    out.push({
      kind: 'priority',
      name: spec.campaign,
      detail: `${current.priority ?? 0} -> ${spec.priority}`,
    });
  }
  for (const t of spec.rtypes) {
    const cur = current?.rtypes.find((x) => x.name === t.name);
    const want: RunType = deactivated
      ? { name: t.name, filter: t.filter, workflows: [], suspended: t.workflows }
      : { name: t.name, filter: t.filter, workflows: t.workflows, suspended: [] };
    const detail = `filter: ${describeFilter(t.filter)}; workflows: ${t.workflows.join(' ') || '(none)'}${deactivated ? ' (suspended)' : ''}`;
    if (!cur) out.push({ kind: 'add-rtype', name: t.name, detail, rtype: want });
    else if (
      !same(cur.filter, want.filter) ||
      !same(cur.workflows, want.workflows) ||
      !same(cur.suspended, want.suspended)
    ) {
      out.push({ kind: 'update-rtype', name: t.name, detail, rtype: want });
    }
  }
  for (const t of current?.rtypes ?? []) {
    if (!spec.rtypes.some((x) => x.name === t.name))
      out.push({ kind: 'remove-rtype', name: t.name, detail: '', rtype: t });
  }
  for (const w of spec.workflows) {
    const cur = current?.workflows.find((x) => x.name === w.name);
    const detail = `${w.backend}${w.dependsOn.length ? `, after ${w.dependsOn.join(' ')}` : ''}, max_retries ${w.maxRetries}${w.retry ? `, retry on ${w.retry.on.join(' ') || 'nothing'}` : ''}`;
    if (!cur) out.push({ kind: 'add-workflow', name: w.name, detail, workflow: w });
    else if (!same(cur, w)) out.push({ kind: 'update-workflow', name: w.name, detail, workflow: w });
  }
  for (const w of current?.workflows ?? []) {
    if (!spec.workflows.some((x) => x.name === w.name))
      out.push({ kind: 'remove-workflow', name: w.name, detail: '', workflow: w });
  }
  return out;
}
