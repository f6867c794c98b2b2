/**
 * Prometheus metrics and the health answer of a loop (`automation --daemon --metrics PORT`, and `/metrics`,
 * `/healthz` on the dashboards of `serve` and `automation --serve`), through prom-client. The loop only calls the
 * small LoopMetrics interface; nothing else knows prom-client.
 *
 * Labels stay bounded: campaign and workflow (the database's configuration), backend and a job state of a
 * handful of values, a request kind; never a run number, job name or error message.
 */
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Campaign } from '../domain/campaign.js';
import { formatDuration } from '../domain/duration.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { PassReport } from './pass.js';

/** What the loop tells its metrics. */
export interface LoopMetrics {
  /** A pass ended; `campaigns`: those the loop read for it (their workflows' counters start at 0). */
  passEnded(r: PassReport, campaigns: readonly Campaign[]): void;
  /** A pass hit an infrastructure error, the `inARow`-th in a row. */
  passFailed(inARow: number, durationMs: number, wake: boolean): void;
  /** The campaigns the loop wanted and those whose lease it holds now. */
  leases(wanted: readonly string[], held: readonly string[]): void;
}

/** A health answer: HTTP status and a one-line JSON body. */
export interface Health {
  code: 200 | 503;
  body: string;
}

export interface MetricsOptions {
  /** The loop's interval: health is "a pass ended less than three intervals ago". None: not a loop (serve). */
  intervalMs?: number;
  /** runctrl's state directory: the local executor's queue is counted under `<stateDir>/local/`. */
  stateDir?: string;
  /** InfluxDB requests are counted and timed through this store's client. */
  store?: Store;
  now?: () => number;
}

const PASS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HEALTH_INTERVALS = 3;
const LINT_REFUSED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

async function countJson(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.json')).length;
  } catch {
    return 0; // no executor has run in this state directory yet
  }
}

function counter<L extends string>(
  r: Registry,
  name: string,
  help: string,
  labelNames: L[] = [],
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [r] });
}

function gauge<L extends string>(r: Registry, name: string, help: string, labelNames: L[] = []): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [r] });
}

/** The series the loop's calls update. */
function loopSeries(r: Registry) {
  const unit = (what: string, help: string) =>
    counter(r, `runctrl_units_${what}_total`, help, ['campaign', 'workflow']);
  return {
    passes: counter(
      r,
      'runctrl_passes_total',
      'Automation passes by kind (full, wake) and outcome (ok, problems: ended with problems, error: infrastructure error)',
      ['kind', 'outcome'],
    ),
    passSeconds: new Histogram({
      name: 'runctrl_pass_duration_seconds',
      help: 'Duration of automation passes',
      labelNames: ['kind'],
      buckets: PASS_BUCKETS,
      registers: [r],
    }),
    lastSuccess: gauge(
      r,
      'runctrl_last_successful_pass_timestamp_seconds',
      'Unix time at which the last successful pass ended (0: none yet)',
    ),
    errorsInARow: gauge(
      r,
      'runctrl_infrastructure_errors_in_a_row',
      'Passes in a row that failed on an infrastructure error (InfluxDB or a batch system unreachable)',
    ),
    wakeups: counter(
      r,
      'runctrl_wakeups_total',
      'Wake-up passes (a job reported its end between full passes)',
    ),
    units: {
      submitted: unit(
        'submitted',
        'Work units submitted for the first time (resubmissions after a crash excluded)',
      ),
      done: unit('done', 'Run × workflow pairs finalised as done'),
      failed: unit('failed', 'Run × workflow pairs failed for good (retries exhausted)'),
    },
    inFlight: gauge(
      r,
      'runctrl_jobs_in_flight',
      'Jobs in flight after the last pass by backend and state (intent, idle, running, held, unknown)',
      ['backend', 'state'],
    ),
    leaseHeld: gauge(
      r,
      'runctrl_lease_held',
      "1 while this loop holds the campaign's lease, 0 when it wants it and does not",
      ['campaign'],
    ),
    leaseLosses: counter(
      r,
      'runctrl_lease_losses_total',
      "Times this loop held a campaign's lease at a pass and not at the next (not counting its own release)",
      ['campaign'],
    ),
  };
}

type LoopSeries = ReturnType<typeof loopSeries>;

/** One registry per process part (tests run several): the loop's metrics, InfluxDB's, the process's. */
export class Metrics implements LoopMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastOk: number | undefined;
  private inARow = 0;
  private lastRequestOk = true;
  private readonly held = new Set<string>();
  /** Backend × state label pairs set before: set to 0 when none is left (a series does not vanish). */
  private readonly inFlightSeen = new Set<string>();
  private readonly stopObserving: (() => void) | undefined;

  private readonly m: LoopSeries;

  constructor(private readonly o: MetricsOptions = {}) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    collectDefaultMetrics({ register: this.registry });
    // gauges named like counters (promtool refuses them); nodejs_active_{handles,requests,resources} remain
    for (const n of LINT_REFUSED) this.registry.removeSingleMetric(n);
    this.m = loopSeries(this.registry);
    if (o.intervalMs !== undefined)
      gauge(this.registry, 'runctrl_pass_interval_seconds', 'The loop’s --interval between full passes').set(
        o.intervalMs / 1000,
      );
    if (o.stateDir !== undefined) this.localQueue(o.stateDir);
    this.stopObserving = o.store && this.influx(o.store);
  }

  /** The local executor's queued and running jobs, counted from its files at every scrape. */
  private localQueue(stateDir: string): void {
    const dir = path.join(stateDir, 'local');
    new Gauge({
      name: 'runctrl_local_executor_jobs',
      help: "Jobs in the local executor's queue (queued) and running (running)",
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const [queued, running] = await Promise.all([
          countJson(path.join(dir, 'queue')),
          countJson(path.join(dir, 'run')),
        ]);
        this.set({ state: 'queued' }, queued);
        this.set({ state: 'running' }, running);
      },
    });
  }

  private influx(store: Store): () => void {
    const registers = [this.registry];
    const requests = new Counter({
      name: 'runctrl_influxdb_requests_total',
      help: 'HTTP requests to InfluxDB (each attempt) by kind (query, write, ping) and outcome (ok, error)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    const seconds = new Histogram({
      name: 'runctrl_influxdb_request_duration_seconds',
      help: 'Duration of HTTP requests to InfluxDB by kind',
      labelNames: ['kind'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    for (const kind of ['query', 'write']) {
      for (const outcome of ['ok', 'error']) requests.inc({ kind, outcome }, 0);
    }
    return store.observe((kind, s, ok) => {
      this.lastRequestOk = ok;
      requests.inc({ kind, outcome: ok ? 'ok' : 'error' });
      seconds.observe({ kind }, s);
    });
  }

  passEnded(r: PassReport, campaigns: readonly Campaign[]): void {
    const kind = r.wake ? 'wake' : 'full';
    this.m.passes.inc({ kind, outcome: r.problems.length > 0 ? 'problems' : 'ok' });
    this.m.passSeconds.observe({ kind }, r.durationMs / 1000);
    if (r.wake) this.m.wakeups.inc();
    this.inARow = 0;
    this.m.errorsInARow.set(0);
    this.lastOk = this.now();
    this.m.lastSuccess.set(this.lastOk / 1000);
    this.countUnits(r, campaigns);
    this.setInFlight(r);
  }

  /** Unit counters: from 0 for every workflow in scope (rate() sees the first unit), plus the pass's tallies. */
  private countUnits(r: PassReport, campaigns: readonly Campaign[]): void {
    const { units } = this.m;
    for (const c of campaigns) {
      for (const w of c.workflows) {
        for (const u of Object.values(units)) u.inc({ campaign: c.name, workflow: w.name }, 0);
      }
    }
    for (const c of r.campaigns) {
      for (const [workflow, t] of Object.entries(c.byWorkflow ?? {})) {
        const labels = { campaign: c.campaign, workflow };
        units.submitted.inc(labels, t.submitted);
        units.done.inc(labels, t.done);
        units.failed.inc(labels, t.failed);
      }
    }
  }

  /** Jobs in flight per backend and state, summed over campaigns; a pair seen before and now absent is 0. */
  private setInFlight(r: PassReport): void {
    const inFlight = new Map<string, number>();
    for (const c of r.campaigns) {
      for (const [backend, states] of Object.entries(c.jobsInFlight ?? {})) {
        for (const [state, n] of Object.entries(states)) {
          const k = JSON.stringify([backend, state]);
          inFlight.set(k, (inFlight.get(k) ?? 0) + n);
        }
      }
    }
    for (const k of inFlight.keys()) this.inFlightSeen.add(k);
    for (const k of this.inFlightSeen) {
      const [backend = '', state = ''] = JSON.parse(k) as string[];
      this.m.inFlight.set({ backend, state }, inFlight.get(k) ?? 0);
    }
  }

  passFailed(inARow: number, durationMs: number, wake: boolean): void {
    const kind = wake ? 'wake' : 'full';
    this.m.passes.inc({ kind, outcome: 'error' });
    this.m.passSeconds.observe({ kind }, durationMs / 1000);
    this.inARow = inARow;
    this.m.errorsInARow.set(inARow);
  }

  leases(wanted: readonly string[], held: readonly string[]): void {
    const now = new Set(held);
    for (const c of this.held) if (!now.has(c) && wanted.includes(c)) this.m.leaseLosses.inc({ campaign: c });
    for (const c of wanted) {
      this.m.leaseHeld.set({ campaign: c }, now.has(c) ? 1 : 0);
      this.m.leaseLosses.inc({ campaign: c }, 0);
    }
    for (const c of this.held) if (!wanted.includes(c)) this.m.leaseHeld.set({ campaign: c }, 0);
    this.held.clear();
    for (const c of held) this.held.add(c);
  }

  /**
   * A loop is healthy while its last successful pass ended less than three intervals ago (counted from its start
   * before the first one); `serve` (no loop) while its last InfluxDB request succeeded.
   */
  health(): Health {
    const answer = (ok: boolean, reason: string): Health => ({
      code: ok ? 200 : 503,
      body: JSON.stringify({ status: ok ? 'ok' : 'unhealthy', reason }),
    });
    const interval = this.o.intervalMs;
    if (interval === undefined)
      return this.lastRequestOk
        ? answer(true, 'serving; InfluxDB answered the last request')
        : answer(false, 'the last request to InfluxDB failed');
    const limit = HEALTH_INTERVALS * interval;
    const since = this.now() - (this.lastOk ?? this.startedAt);
    const errors = this.inARow > 0 ? `; ${this.inARow} infrastructure error(s) in a row` : '';
    const age = formatDuration(since);
    if (this.lastOk === undefined)
      return answer(since < limit, `no pass has ended yet, started ${age} ago${errors}`);
    return answer(
      since < limit,
      `last successful pass ended ${age} ago (limit ${formatDuration(limit)}: ${HEALTH_INTERVALS} intervals)${errors}`,
    );
  }

  /** Serves GET/HEAD /metrics and /healthz; false for any other path (the caller answers it). */
  handle(pathname: string, res: http.ServerResponse): boolean {
    if (pathname === '/healthz') {
      const h = this.health();
      res.writeHead(h.code, {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(`${h.body}\n`);
      return true;
    }
    if (pathname !== '/metrics') return false;
    this.registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Cache-Control': 'no-store' });
        res.end(body);
      },
      () => {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('metrics could not be collected\n');
      },
    );
    return true;
  }

  close(): void {
    this.stopObserving?.();
    this.registry.clear();
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** A server of /metrics and /healthz only (`automation --metrics PORT`), on 127.0.0.1 unless told otherwise. */
export async function serveMetrics(m: Metrics, port: number, host = '127.0.0.1'): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'application/json; charset=utf-8', Allow: 'GET, HEAD' });
      res.end('{"error":"method not allowed"}\n');
      return;
    }
    if (m.handle(p, res)) return;
    res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end('{"error":"not found: try /metrics or /healthz"}\n');
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new UsageError(
              `--metrics: port ${port} on ${host} is in use: choose another one (0: any free port)`,
            )
          : e,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${h}:${a.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
