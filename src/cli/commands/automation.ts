import path from 'node:path';
import type { PassReport } from '../../automation/pass.js';
import type { StateCache } from '../../automation/load.js';
import type { Config } from '../../config.js';
import { parseDuration } from '../../domain/duration.js';
import { parseRange } from '../../domain/selectors.js';
import { TransientError, UsageError } from '../../errors.js';
import { runctrlVersion } from '../../version.js';
import type { Metrics, MetricsServer } from '../../automation/metrics.js';
import type { Ctx } from '../../core/context.js';
import type { Store } from '../../store/store.js';
import type { LiveDashboard } from '../../web/live.js';
import { contextFrom } from '../context.js';
import { defineCommand, jsonOption } from '../define.js';
import { json, table, type Io } from '../io.js';
import { checkInt } from '../numbers.js';

// the loop, the backends and the dashboard are imported when the command runs, not at every CLI start
const flow = () => import('../flow-progress.js');

/** The named variables of the environment (secrets of runctrl's own are never forwarded). */
function forwardedEnv(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of names.flatMap((n) => n.split(','))) {
    const n = raw.trim();
    if (!n || /PASSWORD|PWD$|TOKEN/.test(n)) continue;
    const v = env[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** Three intervals, at least 30 s: at --interval 60s a stand-by takes over within about 4 minutes. */
export function defaultLeaseTtl(intervalMs: number): number {
  return Math.max(3 * intervalMs, 30_000);
}

function printReport(io: Io, r: PassReport): void {
  io.out(
    table(
      [
        'campaign',
        'state',
        'submitted',
        'again',
        'deferred',
        'rejected',
        'transitions',
        'done',
        'failed',
        'retried',
        'waiting',
      ],
      r.campaigns.map((c) => [
        c.campaign,
        c.activity,
        c.submitted,
        c.resubmitted,
        c.deferred,
        c.rejected,
        c.transitions,
        c.done,
        c.failed,
        c.retried,
        Object.entries(c.waiting)
          .map(([k, v]) => `${v} ${k}`)
          .join('; ') || '-',
      ]),
    ),
  );
  if (r.dryRun) {
    for (const c of r.campaigns) {
      for (const u of c.wouldSubmit)
        io.out(
          `[dry run] would submit ${c.campaign}/${u.workflow} ${u.unit} (runs ${u.runs.join(',')}) attempt ${u.attempt}`,
        );
    }
  }
  for (const f of r.failures) io.out(`FAILED ${f.campaign}/${f.workflow} run ${f.run}: ${f.reason}`);
  for (const p of r.problems) io.out(`problem: ${p}`);
  for (const k of r.skipped ?? [])
    io.out(
      `skipped campaign ${k.campaign}: held by another loop (${k.holder}, lease until ${new Date(k.until).toISOString()})`,
    );
  for (const c of r.campaigns) {
    if (c.undefinedWorkflows.length)
      io.out(
        `campaign ${c.campaign}: active workflow(s) without a definition: ${c.undefinedWorkflows.join(', ')} (add them to its campaigns/ file and apply)`,
      );
  }
}

/** The daemon's own dashboard (no InfluxDB load), its pages fed after every pass. */
async function startLive(
  io: Io,
  cache: StateCache,
  o: {
    port: number;
    jobRoot: string;
    maxInFlight: number | undefined;
    allowHosts: string[];
    config: Config;
    endpoints: Metrics | undefined;
  },
): Promise<LiveDashboard> {
  const { port, maxInFlight } = o;
  const [{ serveLive }, { knownSecrets }] = await Promise.all([
    import('../../web/live.js'),
    import('../../util/redact.js'),
  ]);
  const live = await serveLive({
    entries: cache.entries,
    port,
    jobRoot: o.jobRoot,
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
    ...(o.endpoints ? { endpoints: o.endpoints } : {}),
    log: (l) => io.err(l),
    allowHosts: o.allowHosts,
    secrets: knownSecrets(o.config, io.env),
  });
  return live;
}

/**
 * The loop's metrics, for --metrics (a server of its own, its URL printed like the dashboard's) and for the
 * dashboard of --serve (/metrics and /healthz on its port too).
 */
async function startMetrics(
  io: Io,
  a: { metrics?: number | undefined; metricsHost: string; serve?: number | undefined },
  intervalMs: number,
  stateDir: string,
  store: Store,
): Promise<{ metrics: Metrics; close(): Promise<void> } | undefined> {
  if (a.metrics === undefined && a.serve === undefined) return undefined;
  const { Metrics, serveMetrics } = await import('../../automation/metrics.js');
  const metrics = new Metrics({ intervalMs, stateDir, store });
  let server: MetricsServer | undefined;
  try {
    if (a.metrics !== undefined) server = await serveMetrics(metrics, a.metrics, a.metricsHost);
  } catch (e) {
    metrics.close();
    throw e;
  }
  if (server)
    io.err(`runctrl: metrics at ${server.url} (health: ${server.url.replace(/metrics$/, 'healthz')})`);
  return {
    metrics,
    close: async () => {
      await server?.close();
      metrics.close();
    },
  };
}

/** --retention: the privilege checked now (nothing deleted by a loop that cannot), then a daily prune. */
async function retentionOf(
  ctx: Ctx,
  period: string,
  keep: number,
  dryRun: boolean,
  io: Io,
): Promise<((campaigns: string[]) => Promise<boolean>) | undefined> {
  const olderThanMs = parseDuration(period, '--retention');
  const { checkKeep, checkPrunePrivilege, retentionTask } = await import('../../core/retention.js');
  checkKeep(keep);
  if (dryRun) return undefined;
  await checkPrunePrivilege(ctx.store);
  return retentionTask(ctx, { olderThanMs, keep, log: (l) => io.err(`[${new Date().toISOString()}] ${l}`) });
}

/** The InfluxDB credentials a job reports with: handed to it through its environment only (JobSpec.secretEnv). */
function jobSecrets(c: Config): Record<string, string> {
  const out: Record<string, string> = {};
  if (c.token !== undefined) out.RUNCTRL_INFLUXDB_TOKEN = c.token;
  if (c.user !== undefined) out.RUNCTRL_INFLUXDB_USER = c.user;
  if (c.password !== undefined) out.RUNCTRL_INFLUXDB_PASSWORD = c.password;
  return out;
}

async function usableDirs(stateDir: string, jobRoot: string, outputRoot: string): Promise<void> {
  const { ensureWritableDir } = await import('../../util/dirs.js');
  const fix = 'give a writable directory with --state-dir (or RUNCTRL_STATE_DIR)';
  ensureWritableDir(stateDir, 'state directory', fix);
  ensureWritableDir(jobRoot, 'job directory', 'give a writable directory with --job-root');
  ensureWritableDir(outputRoot, 'output directory', 'give a writable directory with --output-root');
}

/** The end of --until-done: what is done and failed, and what still waits (it cannot move by itself). */
async function printSettled(io: Io, r: PassReport): Promise<void> {
  const { progressLine, progressRows } = await flow();
  io.out(progressLine(progressRows(r)).replace(/^progress: /, 'finished: '));
  for (const c of r.campaigns) {
    const waiting = Object.entries(c.waiting).map(([k, v]) => `${v} ${k}`);
    if (waiting.length > 0) io.out(`campaign ${c.campaign}: still waiting: ${waiting.join('; ')}`);
  }
  for (const f of r.failures) io.out(`FAILED ${f.campaign}/${f.workflow} run ${f.run}: ${f.reason}`);
  for (const p of r.problems) io.out(`problem: ${p}`);
}

export const automationCommand = defineCommand({
  command: 'automation',
  describe: 'run the automation loop: sense runs, dispatch workflow jobs, track them to done',
  builder: (y) =>
    jsonOption(y)
      .option('once', { type: 'boolean', describe: 'one pass, then exit (Jenkins, cron)' })
      .option('daemon', {
        type: 'boolean',
        describe: 'until SIGTERM/SIGINT: a full pass every --interval, and a pass as soon as a job ends',
      })
      .option('until-done', {
        type: 'boolean',
        describe: 'like --daemon, until nothing is waiting or in flight in the selected campaigns',
      })
      .conflicts('once', ['daemon', 'until-done'])
      .conflicts('daemon', 'until-done')
      .option('interval', {
        type: 'string',
        default: '60s',
        describe: 'time between full passes (every backend polled) with --daemon/--until-done (e.g. 30s, 5m)',
      })
      .option('campaign', { alias: 'c', type: 'array', string: true, describe: 'only these campaigns' })
      .option('dry-run', {
        type: 'boolean',
        default: false,
        describe: 'change nothing; print what would be done',
      })
      .option('junit', {
        type: 'string',
        describe: "write a JUnit XML report of the pass's failures (Jenkins)",
      })
      .option('prompt', {
        type: 'boolean',
        default: false,
        describe: 'sense new runs from the run source and register them',
      })
      .option('block', {
        type: 'string',
        describe: 'with --prompt: only runs in this range start,end (SNO+ style)',
      })
      .option('start-run', {
        type: 'number',
        describe: 'with --prompt on a database without runs: sense runs after this one',
      })
      .option('ignore-locks', {
        type: 'boolean',
        default: false,
        describe: 'dispatch even workflows held by a lock (testing)',
      })
      .option('lost-after', {
        type: 'string',
        default: '5m',
        describe: 'a job no backend can account for is failed after this',
      })
      .option('hold-timeout', {
        type: 'string',
        default: '10m',
        describe: 'a held job is removed and retried after this',
      })
      .option('max-in-flight', {
        type: 'number',
        describe: "per backend: at most this many of the user's jobs in the system",
      })
      .option('max-submit', { type: 'number', describe: 'at most this many new units per workflow and pass' })
      .option('job-root', {
        type: 'string',
        describe: 'job scripts, logs and exit codes (default STATE_DIR/jobs)',
      })
      .option('output-root', { type: 'string', describe: '{outdir} of the jobs (default STATE_DIR/outputs)' })
      .option('job-env', {
        type: 'array',
        string: true,
        describe:
          'environment variables handed to every job (also RUNCTRL_JOB_ENV, comma-separated); batch systems such as Grid Engine pass none by themselves',
      })
      .option('serve', {
        type: 'number',
        describe:
          "with --daemon/--until-done: serve the dashboard on this port (127.0.0.1) from the loop's own state",
      })
      .option('allow-host', {
        type: 'array',
        string: true,
        describe: 'with --serve: a host name the dashboard is reached by, besides localhost (repeatable)',
      })
      .option('metrics', {
        type: 'number',
        describe:
          'with --daemon/--until-done: serve Prometheus /metrics and /healthz on this port (0: any free one)',
      })
      .option('metrics-host', {
        type: 'string',
        default: '127.0.0.1',
        describe: 'address the --metrics server binds (loopback by default)',
      })
      .option('retention', {
        type: 'string',
        describe:
          'with --daemon/--until-done: once a day, delete history older than this (e.g. 90d) that snapshots superseded',
      })
      .option('keep-status-points', {
        type: 'number',
        default: 20,
        describe: 'with --retention: status points kept per run × workflow pair, however old',
      })
      .option('lease-ttl', {
        type: 'string',
        describe:
          "lease lifetime: a stand-by loop takes over a dead one's campaigns after this (default: 3 intervals, at least 30s)",
      })
      .check((a) => {
        checkInt(a.maxInFlight, '--max-in-flight', 1);
        checkInt(a.maxSubmit, '--max-submit', 1);
        checkInt(a.startRun, '--start-run', 0);
        checkInt(a.serve, '--serve', 0, 65535);
        checkInt(a.metrics, '--metrics', 0, 65535);
        return true;
      })
      .example('$0 --db ecal_prompt_v1 automation --once --junit pass.xml', 'one pass from Jenkins')
      .example('$0 --db ecal_prompt_v1 automation --daemon --interval 60s --prompt', 'a long-running loop')
      .example(
        '$0 --db ecal_rerecos_v1 automation --until-done -c rereco_2024',
        'process a campaign to the end',
      ),
  handler: async (a, io) => {
    const { ctx, config } = await contextFrom(a, io);
    const intervalMs = parseDuration(a.interval, '--interval');
    if (intervalMs > 86_400_000) throw new UsageError('--interval: at most 1d between passes');
    const jobRoot = path.resolve(io.cwd, a.jobRoot ?? path.join(config.stateDir, 'jobs'));
    const outputRoot = path.resolve(io.cwd, a.outputRoot ?? path.join(config.stateDir, 'outputs'));
    if (!a.dryRun) await usableDirs(config.stateDir, jobRoot, outputRoot);
    const untilDone = a.untilDone === true;
    if (untilDone && a.prompt)
      throw new UsageError('--until-done does not go with --prompt (new runs keep coming): use --daemon');
    const [{ runLoop }, { StateCache }, { jobEndUrl }, { backendPool }, { flowProgress }] = await Promise.all(
      [
        import('../../automation/loop.js'),
        import('../../automation/load.js'),
        import('../../store/jobend.js'),
        import('../backend-pool.js'),
        flow(),
      ],
    );
    const progress = untilDone && !a.json ? flowProgress(io) : undefined;
    if (a.serve !== undefined && !a.daemon && !untilDone)
      throw new UsageError('--serve goes with --daemon or --until-done (a single pass has no state to show)');
    if (a.allowHost !== undefined && a.serve === undefined)
      throw new UsageError('--allow-host goes with --serve (it names a host the dashboard is reached by)');
    if ((a.metrics !== undefined || a.retention !== undefined) && !a.daemon && !untilDone)
      throw new UsageError('--metrics and --retention go with --daemon or --until-done');
    const housekeeping = a.retention
      ? await retentionOf(ctx, a.retention, a.keepStatusPoints, a.dryRun, io)
      : undefined;
    const metrics = await startMetrics(io, a, intervalMs, config.stateDir, ctx.store);
    const cache = a.serve !== undefined ? new StateCache() : undefined;
    const live = cache
      ? await startLive(io, cache, {
          port: a.serve ?? 0,
          jobRoot,
          maxInFlight: a.maxInFlight,
          allowHosts: a.allowHost ?? [],
          config,
          endpoints: metrics?.metrics,
        })
      : undefined;
    const pool = backendPool(config, io.env);
    const ac = new AbortController();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        io.err(`runctrl: ${sig}: finishing the current pass, then exiting (send it again to exit at once)`);
        ac.abort();
      } else process.exit(130);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // printed once the signals are handled: whoever reads the URL may stop the daemon at once
    if (live) io.err(`runctrl: dashboard at ${live.url}`);
    try {
      const result = await runLoop(
        {
          store: ctx.store,
          source: ctx.source,
          backend: pool.get,
          ...(cache ? { cache } : {}),
          ...(live ? { onPassEnd: live.publish } : {}),
          log: (l) => {
            // with a progress display, the per-pass summaries give way to it
            if (progress && !config.verbose && /^(wake-up )?pass: /.test(l)) return;
            io.err(`[${new Date().toISOString()}] ${l}`);
          },
        },
        {
          daemon: a.daemon === true,
          untilDone,
          ...(progress ? { counts: true, onPass: progress.onPass } : {}),
          ...(metrics ? { metrics: metrics.metrics } : {}),
          ...(housekeeping ? { housekeeping } : {}),
          intervalMs,
          ...(a.junit ? { junit: a.junit } : {}),
          webhooks: config.webhooks,
          stateDir: config.stateDir,
          leaseTtlMs: a.leaseTtl ? parseDuration(a.leaseTtl, '--lease-ttl') : defaultLeaseTtl(intervalMs),
          version: runctrlVersion(),
          ...(a.campaign ? { campaigns: a.campaign } : {}),
          dryRun: a.dryRun,
          ignoreLocks: a.ignoreLocks,
          ...(a.prompt
            ? {
                prompt: {
                  ...(a.block ? { block: parseRange(a.block) } : {}),
                  ...(a.startRun !== undefined ? { startRun: a.startRun } : {}),
                },
              }
            : {}),
          lostAfterMs: parseDuration(a.lostAfter, '--lost-after'),
          holdTimeoutMs: parseDuration(a.holdTimeout, '--hold-timeout'),
          ...(a.maxInFlight !== undefined ? { maxInFlight: a.maxInFlight } : {}),
          ...(a.maxSubmit !== undefined ? { maxSubmitPerWorkflow: a.maxSubmit } : {}),
          jobRoot,
          outputRoot,
          jobEnv: {
            ...forwardedEnv(io.env, [...(a.jobEnv ?? []), ...(io.env.RUNCTRL_JOB_ENV ?? '').split(',')]),
            RUNCTRL_DB: ctx.store.db,
            RUNCTRL_INFLUXDB_URL: config.influxUrl,
          },
          jobSecretEnv: jobSecrets(config),
          jobReport: { url: jobEndUrl(ctx.store) },
        },
        ac.signal,
      );
      progress?.stop();
      if (result.error) throw new TransientError(`automation pass failed: ${result.error}`);
      if (result.last) {
        if (a.json) io.out(json(result.last));
        else if (untilDone) await printSettled(io, result.last);
        else if (!a.daemon) printReport(io, result.last);
      }
    } finally {
      progress?.stop();
      await live?.close();
      await metrics?.close();
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await pool.close();
    }
  },
});
