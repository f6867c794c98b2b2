import { loadCampaign } from './campaigns.js';
import { editList } from '../domain/campaign.js';
import { describeFilter, type RunFilter } from '../domain/filter.js';
import { checkName } from '../domain/names.js';
import { UserError } from '../errors.js';
import { rtypePoint } from '../store/schema.js';
import type { Ctx } from './context.js';

export interface RtypeView {
  campaign: string;
  rtype: string;
  filter: RunFilter;
  filterText: string;
  workflows: string[];
  suspended: string[];
}

export async function rtypeCreate(
  ctx: Ctx,
  o: { campaign: string; rtype: string; filter: RunFilter; workflows?: string[] },
): Promise<RtypeView> {
  checkName('run type', o.rtype);
  for (const w of o.workflows ?? []) checkName('workflow', w);
  const c = await loadCampaign(ctx, o.campaign);
  if (c.rtypes.some((t) => t.name === o.rtype)) {
    throw new UserError(
      `run type '${o.rtype}' already exists in campaign '${c.name}': change its workflows with 'rtype-update --campaign ${c.name} --type ${o.rtype} --add …'`,
    );
  }
  const workflows = [...new Set(o.workflows ?? [])];
  await ctx.store.write([rtypePoint(c.name, o.rtype, o.filter, workflows, [])]);
  return {
    campaign: c.name,
    rtype: o.rtype,
    filter: o.filter,
    filterText: describeFilter(o.filter),
    workflows,
    suspended: [],
  };
}

export async function rtypeUpdate(
  ctx: Ctx,
  o: { campaign: string; rtype: string; add: string[]; remove: string[]; filter?: RunFilter },
): Promise<RtypeView & { added: string[]; removed: string[] }> {
  checkName('run type', o.rtype);
  for (const w of [...o.add, ...o.remove]) checkName('workflow', w);
  if (o.add.length === 0 && o.remove.length === 0 && o.filter === undefined) {
    throw new UserError('nothing to change: give --add WORKFLOW…, --remove WORKFLOW,… or a new filter', {
      exitCode: 2,
    });
  }
  const c = await loadCampaign(ctx, o.campaign);
  const t = c.rtypes.find((x) => x.name === o.rtype);
  if (!t) {
    throw new UserError(
      `unknown run type '${o.rtype}' in campaign '${c.name}' (known: ${c.rtypes.map((x) => x.name).join(', ') || 'none'}): create it with 'rtype-create --campaign ${c.name} --type ${o.rtype}'`,
    );
  }
  const notActive = o.remove.filter((w) => !t.workflows.includes(w) && !t.suspended.includes(w));
  if (notActive.length > 0) {
    throw new UserError(
      `workflow(s) ${notActive.join(', ')} not in run type '${t.name}' of campaign '${c.name}' (active: ${t.workflows.join(', ') || 'none'})`,
    );
  }
  const workflows = editList(t.workflows, o.add, o.remove);
  // Removing the last active workflows of a run type is the ECAL way of deactivating it: set them aside
  // so that `list` shows the campaign as deactivated and `reactivate` can restore them.
  const removedActive = o.remove.filter((w) => t.workflows.includes(w));
  const suspended =
    workflows.length === 0 && removedActive.length > 0
      ? editList(t.suspended, removedActive, [
          ...o.add,
          ...o.remove.filter((w) => !removedActive.includes(w)),
        ])
      : editList(t.suspended, [], [...o.remove, ...o.add]);
  const filter = o.filter ?? t.filter;
  await ctx.store.write([rtypePoint(c.name, t.name, filter, workflows, suspended)]);
  return {
    campaign: c.name,
    rtype: t.name,
    filter,
    filterText: describeFilter(filter),
    workflows,
    suspended,
    added: o.add.filter((w) => !t.workflows.includes(w)),
    removed: o.remove.filter((w) => t.workflows.includes(w) || t.suspended.includes(w)),
  };
}

export async function rtypeList(ctx: Ctx, o: { campaign: string }): Promise<RtypeView[]> {
  const c = await loadCampaign(ctx, o.campaign);
  return c.rtypes.map((t) => ({
    campaign: c.name,
    rtype: t.name,
    filter: t.filter,
    filterText: describeFilter(t.filter),
    workflows: t.workflows,
    suspended: t.suspended,
  }));
}
