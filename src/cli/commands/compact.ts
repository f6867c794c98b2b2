import { parseDuration } from '../../domain/duration.js';
import { contextFrom } from '../context.js';
import { defineCommand, jsonOption } from '../define.js';
import { json, table } from '../io.js';

export const compactCommand = defineCommand({
  command: 'compact',
  describe: "write a snapshot of campaigns' current state (fresh processes then skip the history)",
  builder: (y) =>
    jsonOption(y)
      .option('campaign', { alias: 'c', type: 'string', describe: 'only this campaign (default: all)' })
      .option('prune-older-than', {
        type: 'string',
        describe:
          'then delete history older than this (e.g. 90d) that the snapshot superseded (needs WRITE privilege)',
      })
      .option('keep-status-points', {
        type: 'number',
        default: 20,
        describe: 'with --prune-older-than: status points kept per run × workflow pair, however old',
      })
      .example('$0 --db ecal_prompt_v1 compact', 'snapshot every campaign')
      .example('$0 --db ecal_prompt_v1 compact --campaign prompt', 'snapshot one campaign')
      .example('$0 --db ecal_prompt_v1 compact --prune-older-than 90d', 'snapshot, then prune older history'),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const only = a.campaign === undefined ? {} : { campaign: a.campaign };
    if (a.pruneOlderThan !== undefined) {
      const olderThanMs = parseDuration(a.pruneOlderThan, '--prune-older-than');
      const { prune } = await import('../../core/retention.js');
      const r = await prune(ctx, { ...only, olderThanMs, keep: a.keepStatusPoints });
      if (a.json) return io.out(json(r));
      if (r.length === 0) return io.out(`no campaigns in database '${ctx.store.db}'`);
      return io.out(
        table(
          ['campaign', 'pruned before', 'status points', 'job points', 'jobs', 'ranges'],
          r.map((x) => [
            x.campaign,
            new Date(x.cutoff).toISOString(),
            x.statusPoints,
            x.jobPoints,
            x.jobs,
            x.ranges,
          ]),
        ),
      );
    }
    const r = await (await import('../../core/compact.js')).compact(ctx, only);
    if (a.json) return io.out(json(r));
    if (r.length === 0) return io.out(`no campaigns in database '${ctx.store.db}'`);
    io.out(
      table(
        ['campaign', 'read via', 'generation', 'chunks', 'run × workflow', 'runs', 'jobs'],
        r.map((x) => [x.campaign, x.readVia, x.generation, x.chunks, x.states, x.runs, x.jobs]),
      ),
    );
  },
});
