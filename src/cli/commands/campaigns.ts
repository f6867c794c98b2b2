import type { ActivationResult } from '../../core/campaigns.js';
import { RUN_STATUSES } from '../../domain/status.js';
import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption } from '../define.js';
import { lastPassCell, loopCell, oldestCell, staleLine } from '../health-format.js';
import { json, table, type Io } from '../io.js';

const core = () => import('../../core/campaigns.js');

export const createCommand = defineCommand({
  command: 'create',
  describe: 'create a campaign (with the default run type "all": global runs only)',
  builder: (y) =>
    campaignOption(jsonOption(y))
      .option('description', { alias: 'd', type: 'string', describe: 'free text' })
      .option('if-not-exists', {
        type: 'boolean',
        default: false,
        describe: 'succeed when the campaign already exists',
      })
      .example('$0 --db ecal_rerecos_v1 create --campaign test_rereco', 'create a campaign'),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await core()
    ).createCampaign(ctx, {
      campaign: a.campaign,
      description: a.description ?? '',
      ifNotExists: a.ifNotExists,
    });
    if (a.json) io.out(json(r));
    else
      io.out(
        r.created
          ? `created campaign '${r.campaign}' with run type(s): ${r.rtypes.join(', ')}`
          : `campaign '${r.campaign}' already exists`,
      );
  },
});

export const listCommand = defineCommand({
  command: 'list',
  describe: 'list campaigns: active or not, workflows, run counts per status',
  builder: (y) => jsonOption(y).example('$0 --db ecal_rerecos_v1 list', 'all campaigns of a database'),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const list = await (await core()).listCampaigns(ctx);
    if (a.json) return io.out(json(list));
    if (list.length === 0) return io.out(`no campaigns in database '${ctx.store.db}'`);
    io.out(
      table(
        [
          'campaign',
          'state',
          'workflows',
          'runs',
          ...RUN_STATUSES,
          'priority',
          'loop',
          'last pass',
          'oldest job',
          'malformed',
        ],
        list.map((c) => [
          c.campaign,
          c.activity,
          c.activity === 'deactivated'
            ? `(suspended: ${[...new Set(c.rtypes.flatMap((t) => t.suspended))].join(' ')})`
            : c.workflows.join(' ') || '-',
          c.runs,
          ...RUN_STATUSES.map((s) => c.counts[s]),
          c.priority,
          loopCell(c.loop),
          lastPassCell(io, c.loop),
          oldestCell(c.loop),
          c.malformed,
        ]),
      ),
    );
    for (const c of list) {
      const line = staleLine(io, c.campaign, c.loop);
      if (line) io.out(line);
    }
  },
});

function printActivation(io: Io, r: ActivationResult, asJson: boolean, verb: string): void {
  if (asJson) return io.out(json(r));
  io.out(
    r.changed
      ? `${verb} campaign '${r.campaign}': now ${r.activity}`
      : `campaign '${r.campaign}' is already ${r.activity}: nothing changed`,
  );
  io.out(
    table(
      ['run type', 'active workflows', 'suspended'],
      r.rtypes.map((t) => [t.name, t.workflows.join(' ') || '-', t.suspended.join(' ') || '-']),
    ),
  );
}

export const deactivateCommand = defineCommand({
  command: 'deactivate',
  describe: 'stop processing a campaign: remove every active workflow from every run type (restorable)',
  builder: (y) =>
    campaignOption(jsonOption(y)).example('$0 --db ecal_rerecos_v1 deactivate --campaign test_rereco', ''),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    printActivation(
      io,
      await (await core()).deactivate(ctx, { campaign: a.campaign }),
      a.json,
      'deactivated',
    );
  },
});

export const reactivateCommand = defineCommand({
  command: 'reactivate',
  describe: 'restore exactly the workflows a deactivate removed',
  builder: (y) =>
    campaignOption(jsonOption(y)).example('$0 --db ecal_rerecos_v1 reactivate --campaign test_rereco', ''),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    printActivation(
      io,
      await (await core()).reactivate(ctx, { campaign: a.campaign }),
      a.json,
      'reactivated',
    );
  },
});
