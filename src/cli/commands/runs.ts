import { UsageError } from '../../errors.js';
import { INJECT_MODES, type InjectMode } from '../../domain/inject-plan.js';
import { DISPLAY_STATUSES } from '../../domain/blocked.js';
import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption, runSelectorOptions } from '../define.js';
import { statusLoopLine } from '../health-format.js';
import { json, table } from '../io.js';
import { selectorFrom } from '../selectors.js';

export const injectCommand = defineCommand({
  command: 'inject',
  describe: 'inject runs into a campaign: the active workflows of matching run types get status new',
  builder: (y) =>
    runSelectorOptions(campaignOption(jsonOption(y)))
      .option('mode', {
        type: 'string',
        choices: INJECT_MODES,
        default: 'missing',
        describe:
          'missing: only pairs without a status; failed: also redo failed; all: redo everything not in flight',
      })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'print what would be written, write nothing',
      })
      .check((a) => {
        if ([a.runs, a.range, a.era, a.runlist].every((v) => v === undefined)) {
          throw new UsageError(
            'say which runs: give one of --runs 1,2,3, --range MIN,MAX, --era NAME or --runlist FILE',
          );
        }
        return true;
      })
      .example('$0 --db ecal_rerecos_v1 inject --campaign test_rereco --era Run2024C', 'a whole era')
      .example(
        '$0 --db ecal_rerecos_v1 inject --campaign test_rereco --range 380000,380500 --mode failed',
        'redo failures too',
      ),
  handler: async (a, io) => {
    const [{ ctx }, { inject }, { progressBar }] = await Promise.all([
      contextFrom(a, io),
      import('../../core/inject.js'),
      import('../progress.js'),
    ]);
    const bar = progressBar(io, 'inject');
    const r = await inject(ctx, {
      campaign: a.campaign,
      selector: selectorFrom(a),
      mode: a.mode as InjectMode,
      dryRun: a.dryRun,
      ...(bar.onProgress ? { onProgress: bar.onProgress } : {}),
    }).finally(() => bar.stop());
    if (a.json) return io.out(json(r));
    const verb = r.dryRun ? 'would set' : 'set';
    io.out(
      `${r.dryRun ? '[dry run] ' : ''}campaign '${r.campaign}': ${r.runs} run(s) resolved, ${r.registered} registered, ${r.changes} status change(s) (mode ${r.mode})`,
    );
    const wfs = Object.keys(r.set).sort();
    if (wfs.length > 0) {
      io.out(
        table(
          ['workflow', `${verb} new`, `${verb} reprocess`],
          wfs.map((w) => [w, r.set[w]?.new ?? 0, r.set[w]?.reprocess ?? 0]),
        ),
      );
    }
    for (const [why, n] of Object.entries(r.kept)) io.out(`kept ${n} run×workflow pair(s): ${why}`);
    if (r.unmatched.length > 0) {
      io.out(
        `${r.unmatched.length} run(s) match no run type with active workflows (e.g. ${r.unmatched.slice(0, 5).join(', ')}): see 'rtype-list --campaign ${r.campaign}'`,
      );
    }
  },
});

export const statusCommand = defineCommand({
  command: 'status',
  describe: 'runs × workflows of a campaign with counts per status',
  builder: (y) =>
    runSelectorOptions(campaignOption(jsonOption(y)))
      .option('workflow', { alias: 'w', type: 'string', describe: 'only this workflow' })
      .option('limit', {
        type: 'number',
        default: 50,
        describe: 'per-run rows shown in the table (latest runs; 0 = all)',
      })
      .example('$0 --db ecal_rerecos_v1 status --campaign test_rereco --era Run2024C', '')
      .example(
        '$0 --db ecal_rerecos_v1 status --campaign test_rereco --workflow pi0-mon --json',
        'for scripts',
      ),
  handler: async (a, io) => {
    if (!Number.isInteger(a.limit) || a.limit < 0)
      throw new UsageError(`--limit: give a whole number of runs ≥ 0 (0 shows all), not '${a.limit}'`);
    const [{ ctx }, { status }] = await Promise.all([contextFrom(a, io), import('../../core/status.js')]);
    const r = await status(ctx, {
      campaign: a.campaign,
      ...(a.workflow ? { workflow: a.workflow } : {}),
      selector: selectorFrom(a),
    });
    if (a.json) return io.out(json(r));
    const limit = a.limit > 0 ? a.limit : r.rows.length;
    const shown = r.rows.slice(-limit);
    if (shown.length > 0) {
      io.out(
        table(
          ['run', 'fill', 'era', ...r.workflows],
          shown.map((x) => [
            x.run,
            x.fill,
            x.era,
            ...r.workflows.map((w) => (x.stale?.includes(w) ? 'done (stale)' : (x.status[w] ?? '-'))),
          ]),
        ),
      );
      if (shown.length < r.rows.length)
        io.out(`(latest ${shown.length} of ${r.rows.length} runs; --limit 0 shows all)`);
    } else io.out(`no runs in campaign '${r.campaign}' for this selection`);
    io.out(
      table(
        ['workflow', ...DISPLAY_STATUSES, 'stale'],
        r.workflows.map((w) => [w, ...DISPLAY_STATUSES.map((s) => r.totals[w]?.[s] ?? 0), r.stale[w] ?? 0]),
      ),
    );
    if (r.loop) io.out(statusLoopLine(io, r.loop));
    if (r.malformed > 0)
      io.out(`${r.malformed} malformed point(s) skipped: see the warnings above (docs/malformed-points.md)`);
  },
});

export const applyCommand = defineCommand({
  command: 'apply <file>',
  describe: 'create or update a campaign from a declarative file (campaigns/NAME.json), idempotently',
  builder: (y) =>
    jsonOption(y)
      .positional('file', { type: 'string', demandOption: true, describe: 'campaign file' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the diff only' })
      .example('$0 --db ecal_rerecos_v1 apply campaigns/rereco_2024.json --dry-run', ''),
  handler: async (a, io) => {
    const [{ ctx }, { apply }] = await Promise.all([contextFrom(a, io), import('../../core/apply.js')]);
    const r = await apply(ctx, { file: a.file, dryRun: a.dryRun });
    if (a.json) return io.out(json(r));
    if (r.changes.length === 0)
      return io.out(`campaign '${r.campaign}' already matches ${r.file}: nothing to change`);
    io.out(
      `${r.dryRun ? '[dry run] would apply' : 'applied'} ${r.changes.length} change(s) to campaign '${r.campaign}':`,
    );
    io.out(
      table(
        ['change', 'name', 'detail'],
        r.changes.map((c) => [c.kind, c.name, c.detail]),
      ),
    );
  },
});
