/**
 * The dashboard's HTTP server (node:http): static assets built by `npm run build`, a JSON API under /api/ and
 * server-sent events on /api/events. A thin face over src/core, like the CLI; it reads through a
 * DashboardSource (the store, or a daemon's memory).
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { charts, grid, jobsOf, overview, runPage, statusOf, type GridFilter } from '../core/dashboard.js';
import { explainFor } from '../core/why.js';
import type { Campaign } from '../domain/campaign.js';
import { isJobStatus } from '../domain/status.js';
import { isDisplayStatus } from '../domain/blocked.js';
import { checkName } from '../domain/names.js';
import { PROJECT_ROOT } from '../config.js';
import { NotFoundError, UserError } from '../errors.js';
import { failuresOf } from '../core/failures.js';
import { checkRun, pairInfo } from '../core/view.js';
import { lastNonEmptyLine, memoLines } from '../util/last-line.js';
import type { JobRecord } from '../domain/jobs.js';
import { refusal, tail } from './logs.js';
import type { DashboardSource } from './source.js';
import type { CampaignState } from '../core/dashboard.js';
import { handleAction, type ActionOptions } from './actions.js';
import { loopHealthOf } from './loop-health.js';
import { loopOf } from '../core/status.js';
import { Gate, SECURITY_HEADERS } from './guard.js';
import { Redactor } from '../util/redact.js';
import { listenGuarded, type Answer, type GuardOptions } from './listen.js';

export interface ServeOptions {
  source: DashboardSource;
  host?: string;
  port?: number;
  /** Root of job work directories: log tails are read only below it. */
  jobRoot: string;
  assetsDir?: string;
  maxInFlight?: number;
  actions?: ActionOptions;
  log?: (line: string) => void;
  /** Host names (besides loopback and the bound address) this dashboard answers to: --allow-host. */
  allowHosts?: string[];
  /** Secrets to keep out of every answer (the serve tokens are added). */
  secrets?: string[];
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** The flag that sets the port, for the error when it is taken (default --port). */
  portFlag?: string;
  /** Other GET endpoints (/metrics, /healthz): true when it answered the path. */
  endpoints?: { handle(pathname: string, res: http.ServerResponse): boolean };
}

export interface Dashboard {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

export const ASSETS_DIR = path.join(PROJECT_ROOT, 'dist', 'web', 'assets');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

function loadAssets(dir: string): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const f of ['index.html', 'app.js', 'app.css', 'uPlot.min.css']) {
    try {
      out.set(f, {
        type: TYPES[path.extname(f)] ?? 'application/octet-stream',
        body: readFileSync(path.join(dir, f)),
      });
    } catch {
      throw new UserError(`dashboard assets missing in ${dir}: run 'npm run build'`);
    }
  }
  return out;
}

/** A parameter error: HTTP 400 with one line of JSON. */
class BadRequest extends UserError {}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,12}$/.test(v))
    throw new BadRequest(`parameter '${name}' must be a non-negative integer, not '${v.slice(0, 40)}'`);
  return Number(v);
}

function nameParam(q: URLSearchParams, name: string, required: true): string;
function nameParam(q: URLSearchParams, name: string, required?: false): string | undefined;
function nameParam(q: URLSearchParams, name: string, required = false): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') {
    if (required) throw new BadRequest(`parameter '${name}' is required`);
    return undefined;
  }
  try {
    return checkName(name, v);
  } catch (e) {
    throw new BadRequest(e instanceof Error ? e.message.slice(0, 200) : 'bad name');
  }
}

/** Most workflows one request may name. */
export const MAX_LIST = 100;

/** A comma-separated list of names, each checked, without repetitions, at most MAX_LIST of them. */
function nameList(q: URLSearchParams, name: string): string[] | undefined {
  const v = q.get(name);
  if (!v) return undefined;
  const names = [...new Set(v.split(','))];
  if (names.length > MAX_LIST) throw new BadRequest(`parameter '${name}' names more than ${MAX_LIST} items`);
  return names.map((w) => nameCheck(name, w));
}

export function gridFilter(q: URLSearchParams): GridFilter {
  const status = q.get('status') || undefined;
  if (status !== undefined && !isDisplayStatus(status))
    throw new BadRequest(`parameter 'status' must be a run status or blocked`);
  const workflows = nameList(q, 'workflow');
  const era = q.get('era') || undefined;
  if (era !== undefined && era.length > 64) throw new BadRequest(`parameter 'era' is too long`);
  const min = intParam(q, 'min');
  const max = intParam(q, 'max');
  if (min !== undefined && max !== undefined && min > max) throw new BadRequest(`'min' is above 'max'`);
  return {
    ...(era !== undefined ? { era } : {}),
    ...(min !== undefined ? { min } : {}),
    ...(max !== undefined ? { max } : {}),
    ...(nameParam(q, 'rtype') !== undefined ? { rtype: nameParam(q, 'rtype') } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(workflows ? { workflows } : {}),
  };
}

function nameCheck(kind: string, v: string): string {
  return nameParam(new URLSearchParams({ [kind]: v }), kind, true);
}

type Api = (q: URLSearchParams) => Promise<unknown>;

function routes(o: ServeOptions, tails: Gate): Record<string, Api> {
  const src = o.source;
  const campaignOf = async (q: URLSearchParams): Promise<{ c: Campaign; st: CampaignState }> => {
    const name = nameParam(q, 'campaign', true);
    const c = (await src.campaigns()).find((x) => x.name === name);
    const st = c && (await src.state(name));
    if (!c || !st) throw new NotFoundError(`unknown campaign '${name}'`);
    return { c, st };
  };
  const runOf = (q: URLSearchParams): number => {
    const r = intParam(q, 'run');
    if (r === undefined) throw new BadRequest(`parameter 'run' is required`);
    return r;
  };
  // only paths the log tails may read; a job's stderr once per job point
  const stderrLine = memoLines(
    async (j: JobRecord) => ((await refusal(j, j.stderr, o.jobRoot)) ? '' : lastNonEmptyLine(j.stderr)),
    (j) => `${j.campaign}\u0000${j.name}\u0000${j.time}`,
  );
  return {
    '/api/campaigns': async () => {
      const [cs, locks] = await Promise.all([src.campaigns(), src.locks()]);
      const now = Date.now();
      const out = [];
      const items = [];
      for (const c of cs) {
        const st = await src.state(c.name);
        if (!st) continue;
        const e = overview(c, st, locks, now);
        out.push(e);
        items.push({ campaign: c, counts: e.counts });
      }
      const health = await loopHealthOf(src, items);
      return out.map((e) => ({ ...e, ...(health.has(e.campaign) ? { loop: health.get(e.campaign) } : {}) }));
    },
    '/api/grid': async (q) => {
      const { c, st } = await campaignOf(q);
      const locks = await src.locks();
      const { counts } = overview(c, st, locks, Date.now());
      const loop = (await loopHealthOf(src, [{ campaign: c, counts }])).get(c.name);
      return { ...grid(c, st, gridFilter(q), locks), ...(loop ? { loop } : {}) };
    },
    '/api/status': async (q) => {
      const { c, st } = await campaignOf(q);
      const r = statusOf(c, st, gridFilter(q), await src.locks());
      const loop = src.loopHealth ? loopOf(c, r.totals, await src.loopHealth()) : undefined;
      return loop ? { ...r, loop } : r;
    },
    '/api/run': async (q) => {
      const { c, st } = await campaignOf(q);
      const run = runOf(q);
      checkRun(c, st, run);
      const [history, locks, pruned] = await Promise.all([
        src.history(c.name, run),
        src.locks(),
        src.pruned?.(c.name),
      ]);
      const page = runPage(c, st, history, locks, run, o.maxInFlight);
      return pruned ? { ...page, pruned: { before: pruned.cutoff, keep: pruned.keep } } : page;
    },
    '/api/why': async (q) => {
      const { c, st } = await campaignOf(q);
      const wf = nameParam(q, 'workflow');
      const locks = await src.locks();
      return explainFor(
        { campaign: c, ...st, locks, ...(o.maxInFlight !== undefined ? { maxInFlight: o.maxInFlight } : {}) },
        { campaign: c.name, run: runOf(q), ...(wf ? { workflow: wf } : {}) },
      );
    },
    '/api/jobs': async (q) => {
      const { st } = await campaignOf(q);
      const status = q.get('status') || undefined;
      if (status !== undefined && !isJobStatus(status))
        throw new BadRequest(`parameter 'status' must be idle, running, done or failed`);
      const wf = nameParam(q, 'workflow');
      const run = intParam(q, 'run');
      return jobsOf(st, {
        ...(wf ? { workflow: wf } : {}),
        ...(status ? { status } : {}),
        ...(run !== undefined ? { run } : {}),
        limit: Math.min(intParam(q, 'limit') ?? 500, 5000),
      });
    },
    '/api/pair': async (q) => {
      const { c, st } = await campaignOf(q);
      return pairInfo(c, st, await src.locks(), runOf(q), nameParam(q, 'workflow', true));
    },
    '/api/failures': async (q) => {
      const { c, st } = await campaignOf(q);
      const wf = nameParam(q, 'workflow');
      return failuresOf(c.name, st, {
        ...(wf ? { workflow: wf } : {}),
        lastLine: stderrLine,
      });
    },
    '/api/locks': async () => src.locks(),
    '/api/config': () => Promise.resolve({ actions: o.actions !== undefined }),
    '/api/charts': async (q) => {
      const { c, st } = await campaignOf(q);
      return charts(c, st);
    },
    '/api/log': async (q) => {
      const { st } = await campaignOf(q);
      const name = q.get('job') ?? '';
      const stream = q.get('stream');
      if (stream !== 'stdout' && stream !== 'stderr')
        throw new BadRequest(`parameter 'stream' must be stdout or stderr`);
      const job = st.jobs.get(name);
      if (!job) throw new BadRequest(`unknown job '${name.slice(0, 100)}'`);
      const leave = tails.enter('log tails');
      try {
        return await tail(job, stream, o.jobRoot);
      } finally {
        leave();
      }
    },
  };
}

/** Most open change streams (pages) at once. */
const MAX_STREAMS = 64;
/** Most API requests being answered at once; more get 503 (each may read a whole campaign). */
const MAX_API = 4;
/** Most log tails being read at once (each holds a thread of libuv's pool while it reads). */
const MAX_TAILS = 2;

/** The client's routes (src/web/client/main.ts): any other path is answered 404 (with the page saying so). */
const PAGES = [
  /^\/$/,
  /^\/locks\/?$/,
  /^\/(campaign|jobs|charts|failures)\/[^/]+\/?$/,
  /^\/run\/[^/]+\/\d{1,12}\/?$/,
];
export const isPagePath = (p: string): boolean => PAGES.some((r) => r.test(p));

function events(o: ServeOptions, gate: Gate, req: http.IncomingMessage, res: http.ServerResponse): void {
  const head = { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream' };
  // HEAD: the head alone (a stream without body would never send it)
  if (req.method === 'HEAD') return void res.writeHead(200, head).end();
  const leave = gate.enter('change streams');
  res.writeHead(200, { ...head, Connection: 'keep-alive' });
  res.write('retry: 1000\n\n');
  let n = 0;
  const off = o.source.changed(() => res.write(`event: change\ndata: ${++n}\n\n`));
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  req.on('close', () => {
    off();
    clearInterval(ping);
    leave();
  });
}

export async function serve(o: ServeOptions): Promise<Dashboard> {
  const assets = loadAssets(o.assetsDir ?? ASSETS_DIR);
  const log = o.log ?? (() => undefined);
  const tails = new Gate(MAX_TAILS);
  const api = routes(o, tails);
  const gates = { api: new Gate(MAX_API), streams: new Gate(MAX_STREAMS) };
  const tokens = o.actions ? [...o.actions.tokens.values()] : [];
  const redactor = new Redactor([...(o.secrets ?? []), ...tokens]);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, answer: Answer) => {
    const p = url.pathname;
    if (req.method === 'POST' && p.startsWith('/api/actions/'))
      return handleAction(o.actions, req, answer, p.slice('/api/actions/'.length), log);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return answer.json(405, { error: 'method not allowed' }, { Allow: 'GET, HEAD', Connection: 'close' });
    if (p === '/api/events') return events(o, gates.streams, req, res);
    if (o.endpoints?.handle(p, res)) return;
    const fn = Object.hasOwn(api, p) ? api[p] : undefined;
    if (fn) {
      const leave = gates.api.enter('API requests');
      try {
        return answer.json(200, await fn(url.searchParams));
      } finally {
        leave();
      }
    }
    if (p.startsWith('/api/')) return answer.json(404, { error: `no such API: ${p.slice(0, 80)}` });
    const asset = p.startsWith('/assets/')
      ? assets.get(p.slice('/assets/'.length))
      : assets.get('index.html');
    if (!asset) return answer.json(404, { error: 'not found' });
    // the page says what is not found; the status says it too
    answer.send(p.startsWith('/assets/') || isPagePath(p) ? 200 : 404, asset.type, asset.body);
  };
  const guard: GuardOptions = {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 8080,
    allowHosts: o.allowHosts ?? [],
    redactor,
    tls: o.tls,
    portFlag: o.portFlag ?? '--port',
    log,
  };
  const { server, url } = await listenGuarded(guard, handle);
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        o.source.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
