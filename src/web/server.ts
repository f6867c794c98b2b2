/**
 * The dashboard's HTTP server (node:http): static assets built by `npm run build`, a JSON API under /api/ and
 * server-sent events on /api/events. A thin face over src/core, like the CLI; it reads through a
 * DashboardSource (the store, or a daemon's memory).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { charts, grid, jobsOf, overview, runPage, statusOf, type GridFilter } from '../core/dashboard.js';
import { explainFor } from '../core/why.js';
import type { Campaign } from '../domain/campaign.js';
import { isJobStatus, isRunStatus } from '../domain/status.js';
import { checkName } from '../domain/names.js';
import { PROJECT_ROOT } from '../config.js';
import { UserError } from '../errors.js';
import { tail } from './logs.js';
import type { DashboardSource } from './source.js';
import type { CampaignState } from '../core/dashboard.js';
import { handleAction, type ActionOptions } from './actions.js';
import { loopHealthOf } from './loop-health.js';
import { loopOf } from '../core/status.js';

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
}

export interface Dashboard {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

export const ASSETS_DIR = path.join(PROJECT_ROOT, 'dist', 'web', 'assets');

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

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

export function gridFilter(q: URLSearchParams): GridFilter {
  const status = q.get('status') || undefined;
  if (status !== undefined && !isRunStatus(status))
    throw new BadRequest(`parameter 'status' must be a run status`);
  const wf = q.get('workflow');
  const workflows = wf ? wf.split(',').map((w) => nameCheck('workflow', w)) : undefined;
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

function routes(o: ServeOptions): Record<string, Api> {
  const src = o.source;
  const campaignOf = async (q: URLSearchParams): Promise<{ c: Campaign; st: CampaignState }> => {
    const name = nameParam(q, 'campaign', true);
    const c = (await src.campaigns()).find((x) => x.name === name);
    const st = c && (await src.state(name));
    if (!c || !st) throw new BadRequest(`unknown campaign '${name}'`);
    return { c, st };
  };
  const runOf = (q: URLSearchParams): number => {
    const r = intParam(q, 'run');
    if (r === undefined) throw new BadRequest(`parameter 'run' is required`);
    return r;
  };
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
      const { counts } = overview(c, st, [], Date.now());
      const loop = (await loopHealthOf(src, [{ campaign: c, counts }])).get(c.name);
      return { ...grid(c, st, gridFilter(q)), ...(loop ? { loop } : {}) };
    },
    '/api/status': async (q) => {
      const { c, st } = await campaignOf(q);
      const r = statusOf(c, st, gridFilter(q));
      const loop = src.loopHealth ? loopOf(c, r.totals, await src.loopHealth()) : undefined;
      return loop ? { ...r, loop } : r;
    },
    '/api/run': async (q) => {
      const { c, st } = await campaignOf(q);
      const run = runOf(q);
      const [history, locks] = await Promise.all([src.history(c.name, run), src.locks()]);
      return runPage(c, st, history, locks, run, o.maxInFlight);
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
      return tail(job, stream, o.jobRoot);
    },
  };
}

function send(res: http.ServerResponse, code: number, type: string, body: string | Buffer): void {
  res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type });
  res.end(body);
}

const sendJson = (res: http.ServerResponse, code: number, v: unknown): void =>
  send(res, code, 'application/json; charset=utf-8', JSON.stringify(v));

function events(o: ServeOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
  res.write('retry: 1000\n\n');
  let n = 0;
  const off = o.source.changed(() => res.write(`event: change\ndata: ${++n}\n\n`));
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  req.on('close', () => {
    off();
    clearInterval(ping);
  });
}

export async function serve(o: ServeOptions): Promise<Dashboard> {
  const assets = loadAssets(o.assetsDir ?? ASSETS_DIR);
  const api = routes(o);
  const log = o.log ?? (() => undefined);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    if (req.method === 'POST' && p.startsWith('/api/actions/')) {
      void handleAction(o.actions, req, res, p.slice('/api/actions/'.length), log).catch((e: unknown) =>
        fail(res, e, log),
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, { error: 'method not allowed' });
    if (p === '/api/events') return events(o, req, res);
    const fn = api[p];
    if (fn) {
      fn(url.searchParams)
        .then((v) => sendJson(res, 200, v))
        .catch((e: unknown) => fail(res, e, log));
      return;
    }
    if (p.startsWith('/api/')) return sendJson(res, 404, { error: `no such API: ${p.slice(0, 80)}` });
    const asset = p.startsWith('/assets/')
      ? assets.get(p.slice('/assets/'.length))
      : assets.get('index.html');
    if (!asset) return sendJson(res, 404, { error: 'not found' });
    send(res, 200, asset.type, asset.body);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, o.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        o.source.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function fail(res: http.ServerResponse, e: unknown, log: (l: string) => void): void {
  if (e instanceof UserError) return sendJson(res, 400, { error: e.message.split('\n')[0]?.slice(0, 500) });
  // never echo internals (they may name hosts or paths); the operator sees them in the server's log
  log(`runctrl serve: ${e instanceof Error ? e.message : String(e)}`);
  sendJson(res, 500, { error: 'internal error (see the server log)' });
}
