import type { StateEditResult } from '../../core/operations.js';
import { fromRunArg, modeArg, REPROCESS_MODES, reasonArg } from '../../domain/operation-args.js';
import { asksText } from '../../domain/resources-text.js';
import { splitNames } from '../../domain/selectors.js';
import { UsageError } from '../../errors.js';
import { JOB_STATUSES, type JobStatus } from '../../domain/status.js';
import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption, runSelectorOptions } from '../define.js';
import { json, table, type Io } from '../io.js';
import { selectorFrom } from '../selectors.js';

const core = () => import('../../core/operations.js');
const pools = () => import('../backend-pool.js');

function printEdit(io: Io, r: StateEditResult, verb: string): void {
  io.out(
    `${r.dryRun ? '[dry run] ' : ''}${r.campaign}/${r.workflow}: ${r.changed.length} run(s) ${verb}, ${r.skipped.length} left as they are`,
  );
  const why = new Map<string, number>();
  for (const s of r.skipped) why.set(s.why, (why.get(s.why) ?? 0) + 1);
  for (const [w, n] of why) io.out(`  ${n} ${w}`);
}

export const reprocessCommand = defineCommand({
  command: 'reprocess',
  describe:
    'mark run × workflow pairs to be processed again (mode failed: only failed ones; all: everything not in flight)',
  builder: (y) =>
    runSelectorOptions(campaignOption(jsonOption(y)))
      .option('workflow', { alias: 'w', type: 'string', demandOption: true, describe: 'workflow' })
      .option('mode', { type: 'string', choices: REPROCESS_MODES, default: 'failed' as const })
      .option('dry-run', { type: 'boolean', default: false })
      .option('with-dependents', {
        type: 'boolean',
        default: false,
        describe:
          'also mark every pair downstream of these runs (transitively; era and group workflows by whole units), in one write',
      })
      .example(
        '$0 --db ecal_rerecos_v1 reprocess --campaign test_rereco --workflow pi0-mon --era Run2024C --mode all',
        '',
      )
      .example(
        '$0 --db ecal_rerecos_v1 reprocess -c test_rereco -w ecal-reco --era Run2024C --mode all --with-dependents --dry-run',
        'what would be marked, per workflow',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await core()
    ).reprocess(ctx, {
      campaign: a.campaign,
      workflow: a.workflow,
      selector: selectorFrom(a),
      mode: modeArg(a.mode, '--mode'),
      dryRun: a.dryRun,
      withDependents: a.withDependents,
    });
    if (a.json) return io.out(json(r));
    printEdit(io, r, 'set to reprocess');
    for (const d of r.dependents ?? []) printEdit(io, d, 'set to reprocess (dependent)');
    if (r.dependents?.length === 0) io.out('no pair downstream of these runs');
  },
});

export const resetCommand = defineCommand({
  command: 'reset',
  describe: 'put run × workflow pairs back to new whatever their status (cancels their jobs in flight)',
  builder: (y) =>
    runSelectorOptions(campaignOption(jsonOption(y)))
      .option('workflow', { alias: 'w', type: 'string', demandOption: true })
      .option('dry-run', { type: 'boolean', default: false })
      .example('$0 --db ecal_rerecos_v1 reset --campaign test_rereco --workflow pi0-mon --runs 380241', ''),
  handler: async (a, io) => {
    const { ctx, config } = await contextFrom(a, io);
    const pool = (await pools()).backendPool(config, io.env);
    try {
      const r = await (
        await core()
      ).reset(ctx, {
        campaign: a.campaign,
        workflow: a.workflow,
        selector: selectorFrom(a),
        dryRun: a.dryRun,
        backend: pool.get,
      });
      if (a.json) return io.out(json(r));
      printEdit(io, r, 'set to new');
      if (r.cancelled.length)
        io.out(
          `${r.dryRun ? 'would cancel' : 'cancelled'} ${r.cancelled.length} job(s): ${r.cancelled.join(' ')}`,
        );
    } finally {
      await pool.close();
    }
  },
});

export const jobsCommand = defineCommand({
  command: 'jobs [action]',
  describe: 'list the jobs of a campaign (action "cancel" cancels the selected jobs in flight)',
  builder: (y) =>
    campaignOption(jsonOption(y))
      .positional('action', {
        type: 'string',
        choices: ['list', 'cancel'] as const,
        default: 'list' as const,
      })
      .option('workflow', { alias: 'w', type: 'string' })
      .option('run', { alias: 'r', type: 'number' })
      .option('status', {
        type: 'array',
        string: true,
        describe: `only these statuses (${JOB_STATUSES.join(', ')})`,
      })
      .option('logs', {
        type: 'boolean',
        default: false,
        describe: 'show where the stdout/stderr of each job are',
      })
      .example('$0 --db ecal_prompt_v1 jobs --campaign prompt --status failed --logs', '')
      .example('$0 --db ecal_prompt_v1 jobs cancel --campaign prompt --workflow pi0-mon --run 380241', ''),
  handler: async (a, io) => {
    const { ctx, config } = await contextFrom(a, io);
    const statuses = splitNames(a.status);
    const bad = statuses.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
    if (bad.length)
      throw new UsageError(
        `--status: unknown job status ${bad.join(', ')} (known: ${JOB_STATUSES.join(', ')})`,
      );
    const q = {
      campaign: a.campaign,
      ...(a.workflow ? { workflow: a.workflow } : {}),
      ...(a.run !== undefined ? { run: a.run } : {}),
      ...(statuses.length ? { status: statuses as JobStatus[] } : {}),
    };
    if (a.action === 'cancel') {
      const pool = (await pools()).backendPool(config, io.env);
      try {
        const names = await (await core()).cancelSelected(ctx, { ...q, backend: pool.get });
        if (a.json) return io.out(json({ cancelled: names }));
        return io.out(
          names.length ? `cancelled ${names.length} job(s): ${names.join(' ')}` : 'no job in flight matches',
        );
      } finally {
        await pool.close();
      }
    }
    const jobs = await (await core()).listJobs(ctx, q);
    if (a.json) return io.out(json(jobs));
    if (jobs.length === 0) return io.out('no jobs match');
    const head = [
      'job',
      'runs',
      'attempt',
      'status',
      'backend',
      'native id',
      'exit',
      'class',
      'asks',
      'reason',
    ];
    io.out(
      table(
        a.logs ? [...head, 'stdout', 'stderr'] : head,
        jobs.map((j) => {
          const row = [
            j.name,
            j.runs.length > 3
              ? `${j.runs[0]}…${j.runs[j.runs.length - 1]} (${j.runs.length})`
              : j.runs.join(','),
            j.attempt,
            j.status,
            j.backend,
            j.nativeId || '(submitting)',
            j.exitCode ?? '-',
            j.failureClass ?? '-',
            asksText(j) || '-',
            j.reason || '-',
          ];
          return a.logs ? [...row, j.stdout, j.stderr] : row;
        }),
      ),
    );
  },
});

export const jobCommand = defineCommand({
  command: 'job <state>',
  describe: "report a job's own progress (ECAL style), from inside the job",
  builder: (y) =>
    campaignOption(jsonOption(y))
      .positional('state', {
        type: 'string',
        choices: ['running', 'done', 'failed'] as const,
        demandOption: true,
      })
      .option('workflow', { alias: 'w', type: 'string', demandOption: true })
      .option('run', { alias: 'r', type: 'number', demandOption: true })
      .option('id', { type: 'string', describe: 'attempt number or job name (default: the latest attempt)' })
      .option('output', {
        type: 'string',
        array: true,
        describe: 'an output (kept whole: commas and spaces included); repeat for several',
      })
      .option('reason', { type: 'string' })
      .example(
        'runctrl job done --campaign prompt --workflow pi0-mon --run 380241 --id 1 --output /eos/x.root',
        '',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const j = await (
      await core()
    ).reportJob(ctx, {
      campaign: a.campaign,
      workflow: a.workflow,
      run: a.run,
      status: a.state,
      ...(a.id !== undefined ? { id: a.id } : {}),
      ...(a.output ? { outputs: a.output.map(String) } : {}),
      ...(a.reason ? { reason: a.reason } : {}),
    });
    io.out(a.json ? json(j) : `job ${j.name}: ${j.status}`);
  },
});

export const outputsCommand = defineCommand({
  command: 'outputs',
  describe: 'outputs of a workflow per run (ECAL getOutput)',
  builder: (y) =>
    runSelectorOptions(campaignOption(jsonOption(y)))
      .option('workflow', { alias: 'w', type: 'string', demandOption: true })
      .example(
        '$0 --db ecal_prompt_v1 outputs --campaign prompt --workflow phisym-reco --era Run2024C --json',
        '',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await core()
    ).outputs(ctx, { campaign: a.campaign, workflow: a.workflow, selector: selectorFrom(a) });
    if (a.json) return io.out(json(r));
    io.out(
      table(
        ['run', 'era', 'status', 'outputs'],
        r.runs.map((x) => [x.run, x.era, x.status, x.outputs.join('\n') || '-']),
      ),
    );
  },
});

export const lockCommand = defineCommand({
  command: 'lock',
  describe: 'hold a workflow for runs ≥ a run (calibration lock) until unlock',
  builder: (y) =>
    campaignOption(jsonOption(y))
      .option('workflow', { alias: 'w', type: 'string', demandOption: true })
      .option('from-run', { type: 'number', demandOption: true })
      .option('reason', { type: 'string', demandOption: true })
      .example(
        "$0 --db ecal_prompt_v1 lock --campaign prompt --workflow ic-combi --from-run 386000 --reason 'new pedestals pending'",
        '',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const l = await (
      await core()
    ).lock(ctx, {
      campaign: a.campaign,
      workflow: a.workflow,
      fromRun: fromRunArg(a.fromRun, '--from-run'),
      reason: reasonArg(a.reason, '--reason'),
    });
    io.out(a.json ? json(l) : `locked ${l.campaign}/${l.workflow} for runs ≥ ${l.fromRun}: ${l.reason}`);
  },
});

export const unlockCommand = defineCommand({
  command: 'unlock',
  describe: 'release the lock of a workflow',
  builder: (y) =>
    campaignOption(jsonOption(y))
      .option('workflow', { alias: 'w', type: 'string', demandOption: true })
      .example('$0 --db ecal_prompt_v1 unlock --campaign prompt --workflow ic-combi', ''),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const l = await (await core()).unlock(ctx, { campaign: a.campaign, workflow: a.workflow });
    io.out(a.json ? json(l) : `unlocked ${l.campaign}/${l.workflow}`);
  },
});

export const locksCommand = defineCommand({
  command: 'locks',
  describe: 'list the locks in force',
  builder: (y) =>
    jsonOption(y)
      .option('campaign', { alias: 'c', type: 'string' })
      .example('$0 --db ecal_prompt_v1 locks', ''),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const ls = await (await core()).listLocks(ctx, a.campaign ? { campaign: a.campaign } : {});
    if (a.json) return io.out(json(ls));
    if (ls.length === 0) return io.out('no locks');
    io.out(
      table(
        ['campaign', 'workflow', 'from run', 'reason', 'by', 'since'],
        ls.map((l) => [l.campaign, l.workflow, l.fromRun, l.reason, l.by, new Date(l.time).toISOString()]),
      ),
    );
  },
});
