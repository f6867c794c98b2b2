import path from 'node:path';
import { diffSpec, parseSpec, type SpecChange } from '../domain/spec.js';
import { UserError } from '../errors.js';
import type { PointSpec } from '../store/lineproto.js';
import { campaignPoint, rtypePoint, workflowPoint } from '../store/schema.js';
import type { Ctx } from './context.js';
import { readUserFile } from './runs.js';

export interface ApplyResult {
  campaign: string;
  file: string;
  dryRun: boolean;
  changes: { kind: SpecChange['kind']; name: string; detail: string }[];
}

async function readSpec(file: string): Promise<unknown> {
  const text = await readUserFile(file, 'campaign file', 'give the path of a campaigns/NAME.json file');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(
      `campaign file '${file}' is not valid JSON (${err instanceof Error ? err.message : String(err)}): fix the syntax`,
    );
  }
}

/** Creates or updates a campaign from a declarative file, idempotently; `dryRun` only reports the diff. */
export async function apply(ctx: Ctx, o: { file: string; dryRun?: boolean }): Promise<ApplyResult> {
  const spec = parseSpec(await readSpec(o.file), o.file);
  // handler modules are resolved against the campaign file's directory
  const dir = path.dirname(path.resolve(o.file));
  for (const w of spec.workflows) if (w.handler) w.handler = path.resolve(dir, w.handler);
  const exists = (await ctx.store.databaseExists()) ? await ctx.store.campaigns(spec.campaign) : [];
  const current = exists[0];
  const changes = diffSpec(spec, current);
  if (!o.dryRun && changes.length > 0) {
    if (!current) await ctx.store.ensureDatabase();
    const points: PointSpec[] = [];
    for (const ch of changes) {
      switch (ch.kind) {
        case 'create-campaign':
        case 'description':
        case 'priority':
          points.push(
            campaignPoint(
              spec.campaign,
              spec.description,
              current?.createdAt || Date.now(),
              false,
              spec.priority,
            ),
          );
          break;
        case 'add-rtype':
        case 'update-rtype':
          points.push(
            rtypePoint(spec.campaign, ch.rtype.name, ch.rtype.filter, ch.rtype.workflows, ch.rtype.suspended),
          );
          break;
        case 'remove-rtype':
          points.push(rtypePoint(spec.campaign, ch.rtype.name, ch.rtype.filter, [], [], true));
          break;
        case 'add-workflow':
        case 'update-workflow':
          points.push(workflowPoint(spec.campaign, ch.workflow));
          break;
        case 'remove-workflow':
          points.push(workflowPoint(spec.campaign, ch.workflow, true));
          break;
      }
    }
    // the campaign point goes last: a campaign becomes visible only with its run types in place
    points.sort((a, b) => Number(a.measurement === 'campaign') - Number(b.measurement === 'campaign'));
    await ctx.store.write(points);
  }
  return {
    campaign: spec.campaign,
    file: o.file,
    dryRun: o.dryRun ?? false,
    changes: changes.map((c) => ({ kind: c.kind, name: c.name, detail: c.detail })),
  };
}
