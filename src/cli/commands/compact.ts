import { contextFrom } from '../context.js';
import { defineCommand, jsonOption } from '../define.js';
import { json, table } from '../io.js';

export const compactCommand = defineCommand({
  command: 'compact',
  describe: "write a snapshot of campaigns' current state (fresh processes then skip the history)",
  builder: (y) =>
    jsonOption(y)
      .option('campaign', { alias: 'c', type: 'string', describe: 'only this campaign (default: all)' })
      .example('$0 --db ecal_prompt_v1 compact', 'snapshot every campaign')
      .example('$0 --db ecal_prompt_v1 compact --campaign prompt', 'snapshot one campaign'),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await import('../../core/compact.js')
    ).compact(ctx, a.campaign === undefined ? {} : { campaign: a.campaign });
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
