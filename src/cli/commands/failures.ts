import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption } from '../define.js';
import { json, table } from '../io.js';

const iso = (ms: number): string =>
  ms > 0 && Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 19) + 'Z' : '';

/** Run numbers, the first few and how many more. */
const someRuns = (runs: readonly number[], n = 6): string =>
  runs.slice(0, n).join(',') + (runs.length > n ? ` (+${runs.length - n})` : '');

export const failuresCommand = defineCommand({
  command: 'failures',
  describe: "a campaign's current failures grouped by cause (exit code or backend reason, last stderr line)",
  builder: (y) =>
    campaignOption(jsonOption(y))
      .option('workflow', { alias: 'w', type: 'string', describe: 'only this workflow' })
      .example('$0 --db ecal_rerecos_v1 failures -c rereco_2024', 'one row per cause')
      .example('$0 --db ecal_rerecos_v1 failures -c rereco_2024 --json', 'with every unit and attempt'),
  handler: async (a, io) => {
    const [{ ctx }, { failures }] = await Promise.all([contextFrom(a, io), import('../../core/failures.js')]);
    const r = await failures(ctx, { campaign: a.campaign, ...(a.workflow ? { workflow: a.workflow } : {}) });
    if (a.json) return io.out(json(r));
    io.out(
      `campaign '${r.campaign}': ${r.failedNow} pair(s) failed now · ${r.failedJobs24h} job failure(s) in 24 h · ${r.units} unit(s) failing in ${r.groups.length} group(s)`,
    );
    if (r.groups.length === 0) return;
    io.out(
      table(
        ['units', 'jobs', 'workflows', 'cause', 'first (UTC)', 'last (UTC)', 'runs'],
        r.groups.map((g) => [
          g.count,
          g.jobs,
          g.workflows.join(','),
          g.cause,
          iso(g.first),
          iso(g.last),
          someRuns(g.runs),
        ]),
      ),
    );
  },
});
