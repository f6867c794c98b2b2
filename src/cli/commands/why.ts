import { UsageError } from '../../errors.js';
import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption } from '../define.js';
import { json, table } from '../io.js';

export const whyCommand = defineCommand({
  command: 'why',
  describe: 'why each workflow of a run is not done (dependency, lock, run type, retries, era, limits)',
  builder: (y) =>
    campaignOption(jsonOption(y))
      .option('run', { alias: 'r', type: 'number', demandOption: true, describe: 'run number' })
      .option('workflow', { alias: 'w', type: 'string', describe: 'only this workflow' })
      .option('max-in-flight', {
        type: 'number',
        describe: "the loop's --max-in-flight, to check that limit",
      })
      .check((a) => {
        if (!Number.isInteger(a.run) || a.run < 0)
          throw new UsageError('--run must be a run number, e.g. --run 386642');
        return true;
      })
      .example('$0 --db ecal_prompt_v1 why --campaign prompt --run 386642', 'every workflow of the run')
      .example('$0 --db ecal_prompt_v1 why -c prompt --run 386642 --workflow pi0-mon --json', 'for scripts'),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await import('../../core/why.js')
    ).why(ctx, {
      campaign: a.campaign,
      run: a.run,
      ...(a.workflow ? { workflow: a.workflow } : {}),
      ...(a.maxInFlight !== undefined ? { maxInFlight: a.maxInFlight } : {}),
    });
    if (a.json) return io.out(json(r));
    io.out(`campaign '${r.campaign}', run ${r.run}${r.era ? ` (${r.era})` : ''}`);
    io.out(
      table(
        ['workflow', 'status', 'why'],
        r.answers.map((w) => [w.workflow, w.status ?? '-', w.text]),
      ),
    );
    if (r.pruned)
      io.out(
        `history before ${new Date(r.pruned.before).toISOString()} was pruned (each pair keeps its last ${r.pruned.keep} status points and the jobs of its last attempt)`,
      );
  },
});
