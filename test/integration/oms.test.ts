/**
 * The OMS client against a local node:http server that answers like the OMS aggregation API
 * (`/agg/api/v1/runs`, `/agg/api/v1/eras`; JSON:API pages with `meta.totalResourceCount`). No internet.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InternalError, TransientError, UserError } from '../../src/errors.js';
import {
  AMPERE_PER_TESLA,
  batchWindows,
  OmsSource,
  toInversePb,
  type OmsOptions,
} from '../../src/sources/oms.js';

type Attrs = Record<string, unknown>;
interface Row {
  id: string;
  type: 'runs';
  attributes: Attrs;
  meta: { row: Record<string, { units: string }> };
}

const T0 = Date.UTC(2024, 4, 1) / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

/** An OMS-like run row; run numbers from 380000, one every 2 numbers, mostly global collisions. */
function row(run: number, over: Attrs = {}, units = 'pb^{-1}'): Row {
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
      components: [
        'CSC',
        'DAQ',
        'DCS',
        'DQM',
        'DT',
        'ECAL',
        'ES',
        'HCAL',
        'PIXEL',
        'RPC',
        'TCDS',
        'TRACKER',
        'TRG',
      ],
      ...over,
    },
    meta: { row: { delivered_lumi: { units }, recorded_lumi: { units } } },
  };
}

interface Seen {
  path: string;
  params: URLSearchParams;
  headers: IncomingHttpHeaders;
}

type Fault =
  | { kind: 'status'; code: number; body?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'html' };

/** The fake OMS. */
class FakeOms {
  rows: Row[] = [];
  eras: string[] | null = ['Run2024D', 'Run2024C'];
  /** Answered before normal service, one per request. */
  faults: Fault[] = [];
  /** Leave out meta.totalResourceCount (pagination then ends on a short page). */
  noTotal = false;
  seen: Seen[] = [];
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req.url ?? '/', req.headers, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/agg/api/v1`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  reset(): void {
    this.rows = [];
    this.eras = ['Run2024D', 'Run2024C'];
    this.faults = [];
    this.noTotal = false;
    this.seen = [];
  }

  /** The runs requests seen, as plain objects of their parameters. */
  runQueries(): Record<string, string>[] {
    return this.seen.filter((s) => s.path.endsWith('/runs')).map((s) => Object.fromEntries(s.params));
  }

  private handle(url: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const u = new URL(url, 'http://x');
    this.seen.push({ path: u.pathname, params: u.searchParams, headers });
    const fault = this.faults.shift();
    if (fault?.kind === 'hang') return; // never answers
    if (fault?.kind === 'html') {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<html><body>CERN Single Sign-On</body></html>');
      return;
    }
    if (fault?.kind === 'status') {
      res
        .writeHead(fault.code, { 'content-type': 'application/json', ...fault.headers })
        .end(fault.body ?? '');
      return;
    }
    const p = u.searchParams;
    const offset = Number(p.get('page[offset]') ?? 0);
    const limit = Number(p.get('page[limit]') ?? 10);
    let items: { id: string; type: string; attributes: Attrs }[];
    if (u.pathname === '/agg/api/v1/runs') {
      let rows = this.rows.filter((r) => {
        const n = r.attributes.run_number as number;
        const f = (op: string): number | undefined => {
          const v = p.get(`filter[run_number][${op}]`);
          return v === null ? undefined : Number(v);
        };
        const [eq, ge, le, gt] = [f('EQ'), f('GE'), f('LE'), f('GT')];
        const era = p.get('filter[era][EQ]');
        return (
          (eq === undefined || n === eq) &&
          (ge === undefined || n >= ge) &&
          (le === undefined || n <= le) &&
          (gt === undefined || n > gt) &&
          (era === null || r.attributes.era === era)
        );
      });
      const sort = p.get('sort');
      rows = [...rows].sort(
        (a, b) => (a.attributes.run_number as number) - (b.attributes.run_number as number),
      );
      if (sort === '-run_number') rows.reverse();
      items = rows;
    } else if (u.pathname === '/agg/api/v1/eras' && this.eras) {
      items = [...this.eras].sort().map((name) => ({ id: name, type: 'eras', attributes: { name } }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ status: '404', title: 'Not Found' }] }));
      return;
    }
    const page = items.slice(offset, offset + limit);
    const body = {
      data: page,
      links: { next: offset + limit < items.length ? `${u.pathname}?page[offset]=${offset + limit}` : null },
      meta: this.noTotal ? {} : { totalResourceCount: items.length },
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}

const oms = new FakeOms();
const open: OmsSource[] = [];

function client(opts: Partial<OmsOptions> = {}): OmsSource {
  const c = new OmsSource({ url: oms.url, backoff: { attempts: 3, baseMs: 1, maxMs: 5 }, ...opts });
  open.push(c);
  return c;
}

beforeAll(() => oms.start());
afterAll(() => oms.stop());
afterEach(async () => {
  oms.reset();
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** Run numbers 380000, 380002, … (n runs). */
function seed(n: number): number[] {
  const runs = Array.from({ length: n }, (_, i) => 380000 + 2 * i);
  oms.rows = runs.map((r) => row(r));
  return runs;
}

describe('OmsSource queries', () => {
  it('reads a range across several pages with the expected parameters', async () => {
    const runs = seed(1234);
    const c = client({ pageSize: 500 });
    const got = await c.fetch({ range: { min: 380000, max: 390000 } });
    expect(got.map((r) => r.run)).toEqual(runs);
    expect(oms.runQueries()).toEqual(
      [0, 500, 1000].map((offset) => ({
        'filter[run_number][GE]': '380000',
        'filter[run_number][LE]': '390000',
        sort: 'run_number',
        'page[offset]': String(offset),
        'page[limit]': '500',
      })),
    );
    expect(c.stats.requests).toBe(3);
  });

  it('stops on a short page when OMS gives no total, and on an empty one after a full page', async () => {
    seed(1000);
    oms.noTotal = true;
    const c = client({ pageSize: 250 });
    expect((await c.fetch({ range: { min: 380000, max: 381998 } })).length).toBe(1000);
    expect(oms.runQueries().map((q) => q['page[offset]'])).toEqual(['0', '250', '500', '750', '1000']);
    oms.seen = [];
    expect((await c.fetch({ range: { min: 380000, max: 380100 } })).length).toBe(51);
    expect(oms.runQueries()).toHaveLength(1);
  });

  it('maps OMS attributes onto RunInfo', async () => {
    oms.rows = [
      row(380010, { era: 'Run2024D' }),
      row(
        380011,
        {
          end_time: null,
          b_field: 0.02,
          energy: null,
          stable_beam: false,
          fill_number: null,
          delivered_lumi: null,
          recorded_lumi: null,
          sequence: 'MINIDAQ',
          l1_hlt_mode: 'cosmics2024',
          hlt_key: '/cdaq/cosmic/commissioning2024/v1/HLT',
        },
        'pb^{-1}',
      ),
      row(
        380012,
        { delivered_lumi: 0.5, recorded_lumi: 0.25, sequence: undefined, l1_hlt_mode: 'none' },
        'fb^{-1}',
      ),
      row(380013, {
        sequence: undefined,
        components: 'ECAL,DAQ',
        stable_beam: false,
        l1_hlt_mode: null,
        hlt_key: null,
      }),
    ];
    const got = await client().fetch({ range: { min: 380010, max: 380013 } });
    const start = T0 + 10 * 600;
    expect(got[0]).toEqual({
      run: 380010,
      fill: 9500,
      era: 'Run2024D',
      startTime: start,
      endTime: start + 500,
      global: true,
      stableBeams: true,
      runClass: 'Collisions24',
      deliveredLumi: 2.5,
      recordedLumi: 2.25,
      beamEnergy: 6800,
      magnetCurrent: 18164,
      quality: {},
    });
    expect(got[1]).toMatchObject({
      run: 380011,
      fill: 0,
      era: 'Run2024', // no era attribute, no configured eras: the year
      endTime: null,
      global: false,
      stableBeams: false,
      runClass: 'Cosmics24',
      deliveredLumi: 0,
      recordedLumi: 0,
      beamEnergy: 0,
      magnetCurrent: Math.round(0.02 * AMPERE_PER_TESLA),
    });
    // fb^{-1} converted to /pb; global from the components when there is no sequence.
    expect(got[2]).toMatchObject({
      deliveredLumi: 500,
      recordedLumi: 250,
      global: true,
      runClass: 'Collisions24',
    });
    expect(got[3]).toMatchObject({ global: false, runClass: 'Commissioning24' });
    expect(toInversePb(3, '/nb')).toBeCloseTo(0.003);
    expect(toInversePb(3, undefined)).toBe(3);
  });

  it('batches run lists into a few windows and filters client-side', async () => {
    seed(3000); // 380000 … 385998, even numbers only
    const c = client({ pageSize: 1000, maxGap: 200 });
    const wanted = [380004, 380010, 380100, 380011, 384000, 384002, 999_999, 380004];
    const got = await c.fetch({ runs: wanted });
    expect(got.map((r) => r.run)).toEqual([380004, 380010, 380100, 384000, 384002]);
    expect(oms.runQueries()).toEqual([
      {
        'filter[run_number][GE]': '380004',
        'filter[run_number][LE]': '380100',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '1000',
      },
      {
        'filter[run_number][GE]': '384000',
        'filter[run_number][LE]': '384002',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '1000',
      },
      { 'filter[run_number][EQ]': '999999', sort: 'run_number', 'page[offset]': '0', 'page[limit]': '1000' },
    ]);
    // 200 scattered runs: a handful of requests, not 200.
    oms.seen = [];
    const scattered = Array.from({ length: 200 }, (_, i) => 380000 + 15 * i);
    expect((await c.fetch({ runs: scattered })).length).toBe(100); // the even ones exist
    expect(oms.runQueries().length).toBeLessThanOrEqual(3);
    expect(batchWindows([1, 2, 50, 400, 401, 10_000], 100, 5000)).toEqual([
      [1, 50],
      [400, 401],
      [10_000, 10_000],
    ]);
    expect(batchWindows([1, 3000, 5001, 5002], 5000, 5000)).toEqual([
      [1, 3000],
      [5001, 5002],
    ]);
  });

  it('asks for runs after a number with GT, and combines it with a list', async () => {
    seed(100); // up to 380198
    const c = client();
    expect((await c.fetch({ after: 380190 })).map((r) => r.run)).toEqual([380192, 380194, 380196, 380198]);
    expect(oms.runQueries()[0]).toEqual({
      'filter[run_number][GT]': '380190',
      sort: 'run_number',
      'page[offset]': '0',
      'page[limit]': '500',
    });
    expect((await c.fetch({ after: 380190, runs: [380100, 380196] })).map((r) => r.run)).toEqual([380196]);
    oms.seen = [];
    expect(await c.fetch({ range: { min: 380100, max: 380110 }, after: 380200 })).toEqual([]);
    expect(oms.seen).toHaveLength(0); // an empty intersection needs no request
  });

  it('uses configured era ranges, else the era filter', async () => {
    oms.rows = [
      row(380000, { era: 'Run2024C' }),
      row(380002, { era: 'Run2024C' }),
      row(380004, { era: 'Run2024D' }),
      row(380006, { era: 'Run2024D' }),
    ];
    const ranged = client({ eras: [{ name: 'Run2024D', firstRun: 380003, lastRun: 380010 }, 'Run2024C'] });
    expect((await ranged.fetch({ era: 'Run2024D' })).map((r) => r.run)).toEqual([380004, 380006]);
    expect(oms.runQueries()[0]).toMatchObject({
      'filter[run_number][GE]': '380003',
      'filter[run_number][LE]': '380010',
    });
    expect(await ranged.eras()).toEqual(['Run2024C', 'Run2024D']);
    oms.seen = [];
    expect((await ranged.fetch({ era: 'Run2024C' })).map((r) => r.run)).toEqual([380000, 380002]);
    expect(oms.runQueries()[0]).toEqual({
      'filter[era][EQ]': 'Run2024C',
      sort: 'run_number',
      'page[offset]': '0',
      'page[limit]': '500',
    });
    // Without an era attribute, the configured ranges name the era of each run.
    oms.rows = [row(380004), row(380020)];
    const got = await ranged.fetch({ range: { min: 380000, max: 380100 } });
    expect(got.map((r) => r.era)).toEqual(['Run2024D', 'Run2024']);
  });

  it('lists eras from the eras endpoint, or from recent runs when there is none', async () => {
    const c = client();
    expect(await c.eras()).toEqual(['Run2024C', 'Run2024D']);
    expect(oms.seen[0]?.path).toBe('/agg/api/v1/eras');
    oms.seen = [];
    oms.eras = null; // 404
    oms.rows = [
      row(380000, { era: 'Run2024B' }),
      row(380002, { era: 'Run2024C' }),
      row(380004, { era: 'Run2024C' }),
    ];
    expect(await client({ erasScanRuns: 2 }).eras()).toEqual(['Run2024C']);
    expect(oms.runQueries()).toEqual([{ sort: '-run_number', 'page[offset]': '0', 'page[limit]': '2' }]);
  });

  it('refuses a query without any bound', async () => {
    await expect(client().fetch({})).rejects.toThrow(/needs runs, a run range, an era/);
    expect(oms.seen).toHaveLength(0);
  });
});

describe('OmsSource errors and retries', () => {
  it('retries a 5xx and then succeeds', async () => {
    seed(10);
    oms.faults = [{ kind: 'status', code: 503, body: 'Service Unavailable' }];
    const c = client();
    expect((await c.fetch({ range: { min: 380000, max: 380018 } })).length).toBe(10);
    expect(c.stats.requests).toBe(2);
  });

  it('gives up after the configured attempts with a transient error', async () => {
    oms.faults = [
      { kind: 'status', code: 502 },
      { kind: 'status', code: 500, body: JSON.stringify({ errors: [{ title: 'database down' }] }) },
    ];
    const err: unknown = await client({ backoff: { attempts: 2, baseMs: 1, maxMs: 1 } })
      .fetch({ runs: [380000] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe(`OMS at ${oms.url}/runs answered 500: database down`);
  });

  it('times out on a server that never answers, retries, and reports a transient error', async () => {
    oms.faults = [{ kind: 'hang' }, { kind: 'hang' }];
    const c = client({ timeoutMs: 150, backoff: { attempts: 2, baseMs: 1, maxMs: 1 } });
    const t = Date.now();
    const err: unknown = await c.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe(`OMS at ${oms.url}/runs did not answer within 150 ms`);
    expect(c.stats.requests).toBe(2);
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('recovers when a timed-out request is followed by an answer', async () => {
    seed(3);
    oms.faults = [{ kind: 'hang' }];
    const c = client({ timeoutMs: 150 });
    expect((await c.fetch({ runs: [380002] })).map((r) => r.run)).toEqual([380002]);
    expect(c.stats.requests).toBe(2);
  });

  it('maps a 4xx to a user error with the server message, without retrying', async () => {
    oms.faults = [
      {
        kind: 'status',
        code: 400,
        body: JSON.stringify({
          errors: [{ status: '400', title: 'Bad Request', detail: 'Unknown attribute: era' }],
        }),
      },
    ];
    const c = client();
    const err: unknown = await c.fetch({ era: 'Run2024C' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      `OMS at ${oms.url}/runs refused the query (400 Unknown attribute: era)`,
    );
    expect(c.stats.requests).toBe(1);
  });

  it('sends the token and cookie, and never prints them', async () => {
    oms.faults = [
      { kind: 'status', code: 401, body: JSON.stringify({ errors: [{ title: 'Unauthorized' }] }) },
    ];
    const c = client({ token: 'tok-s3cret', cookie: 'SSO=cookie-s3cret' });
    const err: unknown = await c.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/refused access \(401 Unauthorized\): give a valid OMS token/);
    expect(oms.seen[0]?.headers.authorization).toBe('Bearer tok-s3cret');
    expect(oms.seen[0]?.headers.cookie).toBe('SSO=cookie-s3cret');
    const printed = `${(err as Error).message} ${String((err as Error).stack)} ${c.describe} ${JSON.stringify(c)}`;
    expect(printed).not.toContain('s3cret');
    expect(c.stats.requests).toBe(1);
  });

  it('reports an SSO redirect and an HTML login page as user errors', async () => {
    oms.faults = [
      {
        kind: 'status',
        code: 302,
        headers: { location: 'https://auth.cern.ch/auth/realms/cern/login?state=abc' },
      },
    ];
    const err: unknown = await client()
      .fetch({ runs: [380000] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /redirected to https:\/\/auth\.cern\.ch\/auth\/realms\/cern\/login \(302\)/,
    );
    expect((err as Error).message).not.toContain('state=abc');
    oms.faults = [{ kind: 'html' }];
    await expect(client().fetch({ runs: [380000] })).rejects.toThrow(
      /HTML page instead of JSON, probably a login page/,
    );
  });

  it('reports a wrong URL (404) and an answer without data as user errors', async () => {
    const wrong = new OmsSource({
      url: oms.url.replace('/agg/api/v1', '/nope'),
      backoff: { attempts: 3, baseMs: 1, maxMs: 1 },
    });
    open.push(wrong);
    await expect(wrong.fetch({ runs: [380000] })).rejects.toThrow(
      /no 'runs' endpoint .* \(404\): check the URL/,
    );
    expect(oms.seen).toHaveLength(1);
    oms.faults = [{ kind: 'status', code: 200, body: JSON.stringify({ runs: [] }) }];
    await expect(client().fetch({ runs: [380000] })).rejects.toThrow(/has no "data" list/);
  });

  it('reports an unreachable server as transient, after retrying', async () => {
    const dead = new OmsSource({
      url: 'http://127.0.0.1:9/agg/api/v1',
      backoff: { attempts: 2, baseMs: 1, maxMs: 1 },
    });
    open.push(dead);
    const err: unknown = await dead.fetch({ runs: [1] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(
      /^cannot reach OMS at http:\/\/127\.0\.0\.1:9\/agg\/api\/v1\/runs \(ECONNREFUSED\)/,
    );
    expect(dead.stats.requests).toBe(2);
  });

  it('detects a server that ignores page[offset]', async () => {
    seed(5);
    // Every answer is the same full page of 2, whatever the offset, with a total that never ends.
    const page = JSON.stringify({ data: oms.rows.slice(0, 2), meta: { totalResourceCount: 100 } });
    oms.faults = [
      { kind: 'status', code: 200, body: page },
      { kind: 'status', code: 200, body: page },
    ];
    await expect(client({ pageSize: 2 }).fetch({ range: { min: 1, max: 999_999 } })).rejects.toBeInstanceOf(
      InternalError,
    );
  });
});
