/**
 * A local server that answers like the CMS OMS aggregation API behind CERN's Keycloak, strict like the
 * real one:
 * - `POST /auth/realms/cern/api-access/token` (client credentials, form-encoded) answers in Keycloak's
 *   shape `{ access_token, expires_in, refresh_expires_in, token_type: "Bearer", … }` with a short lifetime;
 *   wrong client or secret → 401 `{ error: "invalid_client", error_description: "Invalid client or Invalid
 *   client credentials" }`; unknown audience → 400 `{ error: "invalid_client", error_description:
 *   "Audience not found" }`.
 * - `GET /agg/api/v1/runs` and `/eras` (JSON:API pages with `meta.totalResourceCount`) need a valid bearer
 *   token (401 once expired; 403 for a client OMS has not authorized); an unknown filter or `fields`
 *   attribute is a 400 with a JSON:API `errors` array; `fields=` projects the attributes.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type Attrs = Record<string, unknown>;
export interface OmsRow {
  id: string;
  type: 'runs';
  attributes: Attrs;
  meta: { row: Record<string, { units: string }> };
}
export interface OmsEraRow {
  name: string;
  start_fill: number | null;
  end_fill: number | null;
  start_run: number | null;
  end_run: number | null;
}

/**
 * The attributes of OMS `runs` rows (as public OMS clients list them). `beams_present_and_stable` is not one of
 * them: it is the Run Registry's.
 */
export const RUN_ATTRIBUTES = new Set([
  'run_number',
  'fill_number',
  'stable_beam',
  'fill_type_runtime',
  'fill_type_party1',
  'fill_type_party2',
  'duration',
  'start_time',
  'end_time',
  'delivered_lumi',
  'recorded_lumi',
  'init_lumi',
  'end_lumi',
  'b_field',
  'energy',
  'clock_type',
  'sequence',
  'l1_hlt_mode',
  'l1_hlt_mode_stripped',
  'cmssw_version',
  'initial_prescale_index',
  'tier0_transfer',
  'trigger_mode',
  'l1_key',
  'l1_key_stripped',
  'l1_menu',
  'l1_rate',
  'l1_triggers_counter',
  'hlt_key',
  'hlt_physics_rate',
  'hlt_physics_size',
  'hlt_physics_counter',
  'hlt_physics_throughput',
  'components',
]);
const ERA_ATTRIBUTES = new Set(['name', 'start_fill', 'end_fill', 'start_run', 'end_run']);
export const TOKEN_PATH = '/auth/realms/cern/api-access/token';

const T0 = Date.UTC(2024, 4, 1) / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

/** An OMS-like run row; mostly a global collision run. */
export function omsRow(run: number, over: Attrs = {}, units = 'pb^{-1}'): OmsRow {
  const start = T0 + (run - 380000) * 600;
  return {
    id: String(run),
    type: 'runs',
    attributes: {
      run_number: run,
      fill_number: 9500 + Math.floor((run - 380000) / 40),
      start_time: iso(start),
      end_time: iso(start + 500),
      duration: 500,
      delivered_lumi: 2.5,
      recorded_lumi: 2.25,
      b_field: 3.8,
      energy: 6800,
      stable_beam: true,
      fill_type_runtime: 'PROTONS',
      sequence: 'GLOBAL-RUN',
      l1_hlt_mode: 'collisions2024',
      l1_key: 'l1_trg_collisions2024/v88',
      hlt_key: '/cdaq/physics/Run2024/2e34/v1.4.1/HLT/V1',
      components: ['CSC', 'DAQ', 'DCS', 'DQM', 'DT', 'ECAL', 'ES', 'HCAL', 'PIXEL', 'RPC', 'TRACKER', 'TRG'],
      ...over,
    },
    meta: { row: { delivered_lumi: { units }, recorded_lumi: { units } } },
  };
}

export function era(name: string, startRun: number | null, endRun: number | null): OmsEraRow {
  return { name, start_fill: null, end_fill: null, start_run: startRun, end_run: endRun };
}

export interface Seen {
  method: string;
  path: string;
  params: URLSearchParams;
  headers: IncomingHttpHeaders;
  status: number;
}

export type Fault =
  | { kind: 'status'; code: number; body?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'html' };

export const CLIENT = { id: 'ecal-runctrl', secret: 'client-s3cret-value', audience: 'cmsoms-prod' };

export class FakeOms {
  rows: OmsRow[] = [];
  eraRows: OmsEraRow[] = [];
  /** Answered before normal service on the OMS API, one per request. */
  faults: Fault[] = [];
  /** Answered before normal service on the token endpoint. */
  tokenFaults: Fault[] = [];
  noTotal = false;
  /** Bearer tokens required on the API (off: any request is served). */
  requireToken = true;
  /** Token lifetime in seconds. */
  lifetime = 3;
  /** Clients OMS serves (a token of another known client gets 403). */
  authorized = new Set([CLIENT.id]);
  clients = new Map([
    [CLIENT.id, CLIENT.secret],
    ['not-authorized', 'other-s3cret'],
  ]);
  audiences = new Set(['cmsoms-prod', 'cmsoms-int-0185']);
  /** Static tokens accepted on the API. */
  staticTokens = new Set<string>();
  tokensIssued = 0;
  seen: Seen[] = [];
  base = '';
  private tokens = new Map<string, { client: string; expires: number }>();
  private server: Server | undefined;

  get url(): string {
    return `${this.base}/agg/api/v1`;
  }
  get tokenUrl(): string {
    return `${this.base}${TOKEN_PATH}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.base = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  reset(): void {
    this.rows = [];
    this.eraRows = [];
    this.faults = [];
    this.tokenFaults = [];
    this.noTotal = false;
    this.requireToken = true;
    this.lifetime = 3;
    this.staticTokens.clear();
    this.tokensIssued = 0;
    this.seen = [];
    this.tokens.clear();
  }

  /** Every token issued so far stops working (as a Keycloak restart or a revocation). */
  revokeAll(): void {
    this.tokens.clear();
  }

  /** Environment for runctrl to use this server with the test client's credentials. */
  env(over: Record<string, string> = {}): Record<string, string> {
    return {
      RUNCTRL_RUN_SOURCE: `oms:${this.url}`,
      RUNCTRL_OMS_CLIENT_ID: CLIENT.id,
      RUNCTRL_OMS_CLIENT_SECRET: CLIENT.secret,
      RUNCTRL_OMS_TOKEN_URL: this.tokenUrl,
      ...over,
    };
  }

  /** The API requests seen for a resource, as plain objects of their parameters. */
  queries(resource = 'runs'): Record<string, string>[] {
    return this.seen.filter((s) => s.path.endsWith(`/${resource}`)).map((s) => Object.fromEntries(s.params));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const seen: Seen = {
      method: req.method ?? 'GET',
      path: u.pathname,
      params: u.searchParams,
      headers: req.headers,
      status: 0,
    };
    this.seen.push(seen);
    const send = (code: number, body: unknown, headers: Record<string, string> = {}): void => {
      seen.status = code;
      res.writeHead(code, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (u.pathname === TOKEN_PATH) {
      const body = await new Promise<string>((resolve) => {
        let b = '';
        req.setEncoding('utf8').on('data', (d: string) => (b += d));
        req.on('end', () => resolve(b));
      });
      if (this.fault(this.tokenFaults.shift(), send, res)) return;
      this.token(new URLSearchParams(body), send);
      return;
    }
    if (this.fault(this.faults.shift(), send, res)) return;
    if (!u.pathname.startsWith('/agg/api/v1/')) {
      send(404, { errors: [{ status: '404', title: 'Not Found' }] });
      return;
    }
    if (!this.authorizedRequest(req.headers.authorization, send)) return;
    this.api(u, send);
  }

  private fault(
    f: Fault | undefined,
    send: (code: number, body: unknown, headers?: Record<string, string>) => void,
    res: ServerResponse,
  ): boolean {
    if (!f) return false;
    if (f.kind === 'hang') return true;
    if (f.kind === 'html') {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<html><body>CERN Single Sign-On</body></html>');
      return true;
    }
    send(f.code, f.body ?? '', f.headers);
    return true;
  }

  private token(form: URLSearchParams, send: (code: number, body: unknown) => void): void {
    if (form.get('grant_type') !== 'client_credentials') {
      send(400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' });
      return;
    }
    const id = form.get('client_id') ?? '';
    if (this.clients.get(id) !== form.get('client_secret')) {
      send(401, {
        error: 'invalid_client',
        error_description: 'Invalid client or Invalid client credentials',
      });
      return;
    }
    if (!this.audiences.has(form.get('audience') ?? '')) {
      send(400, { error: 'invalid_client', error_description: 'Audience not found' });
      return;
    }
    const token = `eyJ${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { client: id, expires: Date.now() + this.lifetime * 1000 });
    this.tokensIssued++;
    send(200, {
      access_token: token,
      expires_in: this.lifetime,
      refresh_expires_in: 0,
      token_type: 'Bearer',
      'not-before-policy': 0,
      scope: 'profile email',
    });
  }

  private authorizedRequest(
    header: string | undefined,
    send: (code: number, body: unknown) => void,
  ): boolean {
    if (!this.requireToken) return true;
    const token = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
    if (this.staticTokens.has(token)) return true;
    const t = this.tokens.get(token);
    if (!t || t.expires <= Date.now()) {
      send(401, { errors: [{ status: '401', title: 'Unauthorized', detail: 'Invalid or expired token' }] });
      return false;
    }
    if (!this.authorized.has(t.client)) {
      send(403, { errors: [{ status: '403', title: 'Forbidden', detail: 'Access denied' }] });
      return false;
    }
    return true;
  }

  private api(u: URL, send: (code: number, body: unknown) => void): void {
    const resource = u.pathname.replace('/agg/api/v1/', '');
    const known = resource === 'runs' ? RUN_ATTRIBUTES : resource === 'eras' ? ERA_ATTRIBUTES : undefined;
    if (!known || !u.pathname.startsWith('/agg/api/v1/')) {
      send(404, { errors: [{ status: '404', title: 'Not Found' }] });
      return;
    }
    const p = u.searchParams;
    const bad = badParameter(p, known);
    if (bad) {
      send(400, { errors: [{ status: '400', title: 'Bad Request', detail: bad }] });
      return;
    }
    const all: { id: string; type: string; attributes: Attrs; meta?: unknown }[] =
      resource === 'runs'
        ? this.rows
        : this.eraRows.map((e) => ({ id: e.name, type: 'eras', attributes: { ...e } }));
    let items = all.filter((r) => matches(r.attributes, p));
    const sort = p.get('sort');
    if (sort) {
      const key = sort.replace(/^-/, '');
      items = [...items].sort((a, b) => compare(a.attributes[key], b.attributes[key]));
      if (sort.startsWith('-')) items.reverse();
    }
    const fields = p.get('fields')?.split(',');
    const offset = Number(p.get('page[offset]') ?? 0);
    const limit = Number(p.get('page[limit]') ?? 10);
    const page = items.slice(offset, offset + limit).map((r) => ({
      ...r,
      attributes: fields ? Object.fromEntries(fields.map((f) => [f, r.attributes[f] ?? null])) : r.attributes,
    }));
    send(200, {
      data: page,
      links: { next: offset + limit < items.length ? `${u.pathname}?page[offset]=${offset + limit}` : null },
      meta: this.noTotal ? {} : { totalResourceCount: items.length },
    });
  }
}

/** The text of the first unknown filter/sort/fields attribute or operator, if any. */
function badParameter(p: URLSearchParams, known: Set<string>): string | undefined {
  for (const [k, v] of p) {
    const f = /^filter\[([^\]]+)\]\[([A-Z]+)\]$/.exec(k);
    if (f) {
      if (!known.has(f[1] ?? '')) return `Unknown attribute: ${f[1]}`;
      if (!['EQ', 'NEQ', 'LT', 'GT', 'LE', 'GE', 'LIKE'].includes(f[2] ?? ''))
        return `Unknown operator: ${f[2]}`;
    } else if (k === 'fields') {
      // OMS's own words for a projection on an attribute it does not have
      const unknown = v.split(',').find((x) => !known.has(x));
      if (unknown !== undefined) return `Attribute [${unknown}] does not exist`;
    } else if (k === 'sort') {
      if (!known.has(v.replace(/^-/, ''))) return `Unknown attribute: ${v}`;
    } else if (k !== 'page[offset]' && k !== 'page[limit]' && k !== 'include') {
      return `Unknown parameter: ${k}`;
    }
  }
  return undefined;
}

function matches(a: Attrs, p: URLSearchParams): boolean {
  for (const [k, v] of p) {
    const f = /^filter\[([^\]]+)\]\[([A-Z]+)\]$/.exec(k);
    if (!f) continue;
    const x = a[f[1] ?? ''];
    const c = compare(x, typeof x === 'number' ? Number(v) : v);
    const ok = { EQ: c === 0, NEQ: c !== 0, LT: c < 0, GT: c > 0, LE: c <= 0, GE: c >= 0 }[f[2] ?? 'EQ'];
    if (x === null || x === undefined || ok === false) return false;
  }
  return true;
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}
