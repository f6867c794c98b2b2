/**
 * The OMS client against a local node:http server that answers like the OMS aggregation API
 * (`/agg/api/v1/runs`, `/agg/api/v1/eras`; JSON:API pages with `meta.totalResourceCount`). No internet.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InternalError, TransientError, UserError } from '../../src/errors.js';
import {
  AMPERE_PER_TESLA,
  batchWindows,
  OmsSource,
  RUN_FIELDS,
  toInversePb,
  type OmsOptions,
} from '../../src/sources/oms.js';
import { CLIENT, era, FakeOms, omsRow as row, RUN_ATTRIBUTES } from '../helpers/oms-server.js';

const T0 = Date.UTC(2024, 4, 1) / 1000;
const FIELDS = RUN_FIELDS.join(',');

const oms = new FakeOms();
const open: OmsSource[] = [];

function client(opts: Partial<OmsOptions> = {}): OmsSource {
  const c = new OmsSource({
    url: oms.url,
    backoff: { attempts: 3, baseMs: 1, maxMs: 5 },
    credentials: { clientId: CLIENT.id, clientSecret: CLIENT.secret, tokenUrl: oms.tokenUrl },
    ...opts,
  });
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
    expect(oms.queries()).toEqual(
      [0, 500, 1000].map((offset) => ({
        fields: FIELDS,
        'filter[run_number][GE]': '380000',
        'filter[run_number][LE]': '390000',
        sort: 'run_number',
        'page[offset]': String(offset),
        'page[limit]': '500',
      })),
    );
    expect(c.stats.requests).toBe(4); // 3 pages and the eras that name the runs
  });

  it('stops on a short page when OMS gives no total, and on an empty one after a full page', async () => {
    seed(1000);
    oms.noTotal = true;
    const c = client({ pageSize: 250 });
    expect((await c.fetch({ range: { min: 380000, max: 381998 } })).length).toBe(1000);
    expect(oms.queries().map((q) => q['page[offset]'])).toEqual(['0', '250', '500', '750', '1000']);
    oms.seen = [];
    expect((await c.fetch({ range: { min: 380000, max: 380100 } })).length).toBe(51);
    expect(oms.queries()).toHaveLength(1);
  });

  it('maps OMS attributes onto RunInfo', async () => {
    oms.rows = [
      row(380010),
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
    oms.eraRows = [era('Run2024D', 380005, null)];
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
      era: 'Run2024D', // the OMS era whose range holds it
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
    expect(oms.queries()).toEqual([
      {
        fields: FIELDS,
        'filter[run_number][GE]': '380004',
        'filter[run_number][LE]': '380100',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '1000',
      },
      {
        fields: FIELDS,
        'filter[run_number][GE]': '384000',
        'filter[run_number][LE]': '384002',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '1000',
      },
      {
        fields: FIELDS,
        'filter[run_number][EQ]': '999999',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '1000',
      },
    ]);
    // 200 scattered runs: a handful of requests, not 200.
    oms.seen = [];
    const scattered = Array.from({ length: 200 }, (_, i) => 380000 + 15 * i);
    expect((await c.fetch({ runs: scattered })).length).toBe(100); // the even ones exist
    expect(oms.queries().length).toBeLessThanOrEqual(3);
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
    expect(oms.queries()[0]).toEqual({
      fields: FIELDS,
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

  it('takes era ranges from the eras endpoint (never filter[era]), configured ranges first', async () => {
    seed(20); // 380000 … 380038
    oms.eraRows = [
      era('Run2024C', 380000, 380009),
      era('Run2024D', 380010, null),
      era('Run2024E', null, null),
    ];
    const c = client();
    expect((await c.fetch({ era: 'Run2024D' })).map((r) => [r.run, r.era])).toEqual(
      Array.from({ length: 15 }, (_, i) => [380010 + 2 * i, 'Run2024D']),
    );
    // the open era (empty end_run) reaches the latest run: GE only
    expect(oms.queries('eras')).toEqual([
      {
        'filter[name][EQ]': 'Run2024D',
        fields: 'name,start_run,end_run',
        'page[offset]': '0',
        'page[limit]': '500',
      },
    ]);
    expect(oms.queries()).toEqual([
      {
        fields: FIELDS,
        'filter[run_number][GE]': '380010',
        sort: 'run_number',
        'page[offset]': '0',
        'page[limit]': '500',
      },
    ]);
    expect(oms.seen.some((s) => [...s.params.keys()].some((k) => k.startsWith('filter[era]')))).toBe(false);
    oms.seen = [];
    expect((await c.fetch({ era: 'Run2024C' })).map((r) => r.run)).toEqual([
      380000, 380002, 380004, 380006, 380008,
    ]);
    expect(oms.queries()[0]).toMatchObject({
      'filter[run_number][GE]': '380000',
      'filter[run_number][LE]': '380009',
    });
    // an unknown era, and one without runs yet: nothing, and no runs query
    oms.seen = [];
    expect(await c.fetch({ era: 'Run2099X' })).toEqual([]);
    expect(await c.fetch({ era: 'Run2024E' })).toEqual([]);
    expect(oms.queries()).toEqual([]);
    // a range names each run's era with ONE eras query, whatever the number of runs
    oms.seen = [];
    const got = await c.fetch({ range: { min: 380000, max: 380038 } });
    expect(new Set(got.map((r) => r.era))).toEqual(new Set(['Run2024C', 'Run2024D']));
    expect(oms.queries('eras')).toHaveLength(1);
    // configured ranges keep precedence, and need no eras query when they cover the runs
    const ranged = client({ eras: [{ name: 'Mine', firstRun: 380000, lastRun: 380100 }, 'Run2024C'] });
    oms.seen = [];
    expect((await ranged.fetch({ era: 'Mine' })).length).toBe(20);
    expect((await ranged.fetch({ range: { min: 380000, max: 380004 } })).map((r) => r.era)).toEqual([
      'Mine',
      'Mine',
      'Mine',
    ]);
    expect(oms.queries('eras')).toEqual([]);
    expect(await ranged.eras()).toEqual(['Mine', 'Run2024C']);
  });

  it('lists eras from the eras endpoint', async () => {
    oms.eraRows = [era('Run2024D', 380010, null), era('Run2024C', 380000, 380009)];
    const c = client();
    expect(await c.eras()).toEqual(['Run2024C', 'Run2024D']);
    expect(oms.queries('eras')).toHaveLength(1);
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
    expect(oms.queries()).toHaveLength(2);
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
    expect(oms.queries()).toHaveLength(2);
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
    const err: unknown = await c.fetch({ runs: [380000] }).catch((e: unknown) => e);
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
    const c = client({ token: 'tok-s3cret', cookie: 'SSO=cookie-s3cret', credentials: undefined });
    const err: unknown = await c.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /refused access \(401 Unauthorized\): set RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET, or give an OMS token/,
    );
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
    oms.requireToken = false;
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
    oms.requireToken = true;
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

/** A local port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('OmsSource with client credentials', () => {
  it('fetches a token on first use, shares it between concurrent callers, renews it before it expires', async () => {
    seed(10);
    oms.lifetime = 4;
    const c = client();
    await Promise.all(Array.from({ length: 5 }, () => c.fetch({ runs: [380000, 380002] })));
    expect(oms.tokensIssued).toBe(1);
    expect(c.auth?.stats.tokenRequests).toBe(1);
    const token = oms.seen.find((s) => s.method === 'POST');
    expect(token?.params.toString()).toBe(''); // credentials in the form body, never in the URL
    await c.fetch({ runs: [380004] });
    expect(oms.tokensIssued).toBe(1);
    await sleep(3_100); // past 3/4 of the lifetime: renewed before OMS would refuse it
    await c.fetch({ runs: [380004] });
    expect(oms.tokensIssued).toBe(2);
    expect(oms.seen.filter((s) => s.status === 401)).toHaveLength(0);
  });

  it('renews once on a 401, then succeeds', async () => {
    seed(4);
    const c = client();
    await c.fetch({ runs: [380000] });
    oms.revokeAll();
    expect((await c.fetch({ runs: [380002] })).map((r) => r.run)).toEqual([380002]);
    expect(oms.tokensIssued).toBe(2);
    expect(oms.seen.filter((s) => s.status === 401)).toHaveLength(1);
  });

  it('reports a token OMS refuses (401 after a fresh token, or 403) as a user error', async () => {
    seed(2);
    oms.lifetime = 0; // every token is dead on arrival
    const c = client();
    const err: unknown = await c.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /refused the access token of client 'ecal-runctrl' for audience 'cmsoms-prod' \(401 Invalid or expired token\)/,
    );
    expect(oms.tokensIssued).toBe(2); // one renewal, no more
    oms.reset();
    seed(2);
    oms.authorized.delete(CLIENT.id);
    const forbidden: unknown = await client()
      .fetch({ runs: [380000] })
      .catch((e: unknown) => e);
    oms.authorized.add(CLIENT.id);
    expect(forbidden).toBeInstanceOf(UserError);
    expect((forbidden as Error).message).toMatch(/\(403 Access denied\): ask the OMS team to authorize/);
    expect(oms.tokensIssued).toBe(1);
  });

  it('names the settings to fix for a wrong secret or an unknown audience, without retrying', async () => {
    const wrong = client({
      credentials: { clientId: CLIENT.id, clientSecret: 'wrong-s3cret', tokenUrl: oms.tokenUrl },
    });
    const err: unknown = await wrong.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      `the OMS token endpoint ${oms.tokenUrl} refused client 'ecal-runctrl' (401 invalid_client: Invalid client or Invalid client credentials): check RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET`,
    );
    expect(wrong.auth?.stats.tokenRequests).toBe(1);
    const aud = client({
      credentials: {
        ...CLIENT,
        clientId: CLIENT.id,
        clientSecret: CLIENT.secret,
        audience: 'cmsoms-nope',
        tokenUrl: oms.tokenUrl,
      },
    });
    const e2: unknown = await aud.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(UserError);
    expect((e2 as Error).message).toMatch(
      /does not know the audience 'cmsoms-nope' \(400 invalid_client: Audience not found\): set RUNCTRL_OMS_AUDIENCE/,
    );
    const printed = `${String((err as Error).stack)} ${String((e2 as Error).stack)} ${JSON.stringify(wrong)} ${JSON.stringify(aud)}`;
    expect(printed).not.toContain('s3cret');
    expect(oms.queries()).toEqual([]);
  });

  it('retries a token endpoint that fails (5xx) or hangs, and reports an unreachable one as transient', async () => {
    seed(2);
    oms.tokenFaults = [{ kind: 'status', code: 503, body: 'down' }, { kind: 'hang' }];
    const c = client({ timeoutMs: 300 });
    expect((await c.fetch({ runs: [380000] })).map((r) => r.run)).toEqual([380000]);
    expect(c.auth?.stats.tokenRequests).toBe(3);
    const closed = await closedPort();
    const dead = client({
      credentials: {
        clientId: CLIENT.id,
        clientSecret: CLIENT.secret,
        tokenUrl: `http://127.0.0.1:${closed}/token`,
      },
      backoff: { attempts: 2, baseMs: 1, maxMs: 1 },
    });
    const err: unknown = await dead.fetch({ runs: [380000] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe(
      `cannot reach the OMS token endpoint http://127.0.0.1:${closed}/token (ECONNREFUSED): check the network and RUNCTRL_OMS_TOKEN_URL`,
    );
    expect(dead.auth?.stats.tokenRequests).toBe(2);
  });

  it('asks runs only for attributes OMS serves; the strict server refuses any other in fields', async () => {
    expect(RUN_FIELDS.filter((f) => !RUN_ATTRIBUTES.has(f))).toEqual([]);
    oms.requireToken = false;
    const res = await fetch(`${oms.url}/runs?fields=run_number,beams_present_and_stable`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      errors: [
        {
          status: '400',
          title: 'Bad Request',
          detail: 'Attribute [beams_present_and_stable] does not exist',
        },
      ],
    });
  });

  it('is refused by the strict server for unknown attributes (as the real OMS)', async () => {
    oms.requireToken = false;
    const res = await fetch(`${oms.url}/runs?filter[era][EQ]=Run2024C`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      errors: [{ status: '400', title: 'Bad Request', detail: 'Unknown attribute: era' }],
    });
  });
});
