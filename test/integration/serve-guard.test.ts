/**
 * The dashboard survives any request and shows no secret (issue 14): malformed request targets, a throwing
 * source, FIFOs at recorded log paths, huge lists and URLs, too many heavy requests at once, foreign Host
 * headers; every answer carries the security headers; secrets are redacted from every JSON answer. A server
 * over an in-memory source (as in the daemon), spoken to over raw sockets where fetch would fix the request.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import { liveProvider } from '../../src/web/live.js';
import { tail } from '../../src/web/logs.js';
import { serve, type Dashboard } from '../../src/web/server.js';
import { memorySource, type CampaignState, type MemoryProvider } from '../../src/web/source.js';
import { simpleWorkflow } from '../browser/browser.js';
import { makeJob, makeRun } from '../helpers/fixtures.js';

const SECRET = 'pw-"of"-influx\\db';
const root = mkdtempSync(path.join(os.tmpdir(), 'runctrl-guard-'));
const jobRoot = path.join(root, 'jobs');
const work = path.join(jobRoot, 'c', 'A', 'r1', 'a1');
mkdirSync(work, { recursive: true });
writeFileSync(path.join(work, 'stdout'), `HOME=/root\nRUNCTRL_INFLUXDB_PASSWORD=${SECRET}\nend\n`);
execFileSync('mkfifo', [path.join(work, 'stderr')]);

const campaign: Campaign = {
  name: 'c',
  description: 'guard',
  createdAt: 0,
  rtypes: [{ name: 'all', filter: {}, workflows: ['A'], suspended: [] }],
  workflows: [simpleWorkflow('A')],
};
const state = (run: number, reason = ''): RunState => ({
  run,
  workflow: 'A',
  status: 'failed',
  attempt: 1,
  tries: 1,
  outputs: [],
  reason,
  time: 1,
});
const job: JobRecord = makeJob(work, { reason: `exit 3 after connecting with ${SECRET}` });
const st: CampaignState = {
  states: new Map([[stateKey(1, 'A'), state(1, `login failed for ${SECRET}`)]]),
  registered: new Map<number, RegisteredRun>([
    [1, { ...makeRun(1), rtypes: ['all'] }],
    [666, { ...makeRun(666), rtypes: ['all'] }],
  ]),
  jobs: new Map([[job.name, job]]),
};

/** A source whose run 666 throws, and (slowSource) whose campaign 'slow' answers only when released. */
let release: () => void = () => undefined;
const held = new Promise<void>((r) => (release = r));
const provider: MemoryProvider = {
  campaigns: () => [campaign],
  state: (c) => (c === 'c' ? st : undefined),
  locks: () => [],
  changed: () => () => undefined,
};
const memory = memorySource(provider);
const source = {
  ...memory,
  history: (c: string, run: number) => {
    if (run === 666) throw new TypeError('source exploded');
    return memory.history(c, run);
  },
};
const slowSource = {
  ...source,
  state: async (c: string) => (c === 'slow' ? (await held, st) : source.state(c)),
  campaigns: () => Promise.resolve([campaign, { ...campaign, name: 'slow' }]),
};

let d: Dashboard;
let slow: Dashboard;
let port: number;
const logged: string[] = [];
beforeAll(async () => {
  d = await serve({
    source,
    port: 0,
    jobRoot,
    secrets: [SECRET],
    allowHosts: ['dash.example.org'],
    log: (l) => logged.push(l),
  });
  port = Number(new URL(d.url).port);
  slow = await serve({ source: slowSource, port: 0, jobRoot });
});
afterAll(async () => {
  release();
  await d?.close();
  await slow?.close();
});

/** One raw HTTP/1.1 request; resolves with the status code and the head of the answer. */
function raw(request: string, p = port): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(p, '127.0.0.1');
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (buf += c));
    s.on('error', reject);
    s.on('close', () => {
      const [head = '', body = ''] = buf.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body });
    });
    s.end(request);
  });
}

const target = (t: string, host = `127.0.0.1:${port}`): string =>
  `GET ${t} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

function withHost(
  host: string,
  u = '/api/campaigns',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: u, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

const alive = async (): Promise<void> => {
  const r = await fetch(`${d.url}api/campaigns`);
  expect(r.status).toBe(200);
};

describe('item 1: no request target crashes the server', () => {
  it.each([
    ['//', [404]],
    ['http://[/', [400]],
    ['//x/../..//', [200, 404]],
    ['/api/grid?campaign=%E0%A4%A', [400]],
    ['/api/grid?campaign=c&workflow=%ZZ', [400]],
    ['*', [400]],
    ['ftp://x/', [400]],
    ['/%00', [404]],
    ['/api/%', [404]],
  ])('%s → %j, and it still answers', async (t, codes) => {
    const r = await raw(target(t));
    expect(codes).toContain(r.status);
    await alive();
  });

  it('a source that throws becomes a 500 without its message; the server lives on', async () => {
    const r = await fetch(`${d.url}api/run?campaign=c&run=666`);
    expect(r.status).toBe(500);
    expect(await r.text()).not.toContain('exploded');
    expect(logged.join('\n')).toContain('source exploded');
    await alive();
  });

  it('malformed HTTP gets a 400 with the security headers', async () => {
    const r = await raw('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n');
    expect(r.status).toBe(400);
    expect(r.head).toMatch(/Content-Security-Policy: default-src 'none'/);
    await alive();
  });

  it("a page listener that throws never reaches the daemon's publish", () => {
    const p = liveProvider(new Map());
    let after = 0;
    p.changed(() => {
      throw new Error('gone');
    });
    p.changed(() => after++);
    expect(() => p.publish([], [])).not.toThrow();
    expect(after).toBe(1);
  });
});

describe('item 2: log tails', () => {
  it('refuses a FIFO at the recorded path at once, as often as asked', async () => {
    expect((await tail(job, 'stderr', jobRoot)).refused).toBe('not a regular file');
    // more than libuv's 4 threads: none of them may be left waiting for a writer
    const rs = await Promise.all(
      Array.from({ length: 12 }, () =>
        fetch(`${d.url}api/log?campaign=c&job=${job.name}&stream=stderr`).then(
          async (r) => [r.status, (await r.json()) as { refused?: string; error?: string }] as const,
        ),
      ),
    );
    for (const [status, body] of rs) {
      if (status === 503) expect(body.error).toMatch(/busy/);
      else expect([status, body.refused]).toEqual([200, 'not a regular file']);
    }
    const t = await fetch(`${d.url}api/log?campaign=c&job=${job.name}&stream=stdout`);
    expect(t.status).toBe(200);
    expect(((await t.json()) as { text: string }).text).toContain('end\n');
  });
});

describe('item 3: the work one request can cause is bounded', () => {
  it('folds a workflow named 1500 times into one', async () => {
    const r = await fetch(`${d.url}api/grid?campaign=c&workflow=${Array(1500).fill('A').join(',')}`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { workflows: string[] }).workflows).toEqual(['A']);
  });

  it('refuses more than 100 distinct names, and targets beyond 8 kB', async () => {
    const many = Array.from({ length: 101 }, (_, i) => `w${i}`).join(',');
    const r = await fetch(`${d.url}api/grid?campaign=c&workflow=${many}`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/more than 100/);
    const long = await raw(target(`/api/grid?campaign=c&era=${'x'.repeat(9000)}`));
    expect(long.status).toBe(414);
  });

  it('turns away API requests beyond 4 at once with 503 and Retry-After, then answers again', async () => {
    const pending = Array.from({ length: 4 }, () => fetch(`${slow.url}api/grid?campaign=slow`));
    let busy: Response | undefined;
    for (let i = 0; i < 200 && busy?.status !== 503; i++) {
      busy = await fetch(`${slow.url}api/grid?campaign=c`);
      if (busy.status !== 503) await new Promise((r) => setTimeout(r, 25));
    }
    expect(busy?.status).toBe(503);
    expect(busy?.headers.get('retry-after')).toBe('1');
    release();
    for (const r of await Promise.all(pending)) expect(r.status).toBe(200);
    expect((await fetch(`${slow.url}api/grid?campaign=c`)).status).toBe(200);
  });

  it('does not read bodies sent to pages: the connection is closed after the answer', async () => {
    const r = await raw(
      `GET /api/campaigns HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n${'x'.repeat(1000)}`,
    );
    expect(r.status).toBe(200);
    expect(r.head).toMatch(/Connection: close/i);
    await alive();
  });
});

describe('item 4: no secret in any answer', () => {
  it('redacts the log tail, the reasons and the job list', async () => {
    const answers = await Promise.all(
      [
        `api/log?campaign=c&job=${job.name}&stream=stdout`,
        'api/run?campaign=c&run=1',
        'api/jobs?campaign=c',
        'api/why?campaign=c&run=1',
      ].map(async (u) => fetch(d.url + u).then((r) => r.text())),
    );
    for (const a of answers) {
      expect(a).not.toContain('pw-');
      expect(a).not.toContain(JSON.stringify(SECRET).slice(1, -1));
    }
    expect(answers[0]).toContain('RUNCTRL_INFLUXDB_PASSWORD=***');
    expect(answers[1]).toContain('login failed for ***');
  });

  it('redacts error messages that echo the request', async () => {
    const r = await fetch(`${d.url}api/log?campaign=c&stream=stdout&job=${encodeURIComponent(`x${SECRET}`)}`);
    expect(r.status).toBe(400);
    const body = await r.text();
    expect(body).toContain("unknown job 'x***'");
    expect(body).not.toContain('pw-');
  });
});

describe('item 5: the Host header', () => {
  it.each([
    `127.0.0.1:${0}`,
    'localhost',
    'localhost:8080',
    '[::1]:1',
    '127.0.0.1',
    'dash.example.org',
    'DASH.example.org:443',
  ])('answers Host %s', async (h) => {
    expect((await withHost(h.replace(':0', `:${port}`))).status).toBe(200);
  });

  it.each(['attacker.example', 'attacker.example:80', '127.0.0.1.attacker.example', 'localhost@evil'])(
    'refuses Host %j with 421 and one line',
    async (h) => {
      const r = await withHost(h);
      expect(r.status).toBe(421);
      expect(r.body.split('\n')).toHaveLength(1);
      expect(r.body).toMatch(/--allow-host/);
      expect(r.headers['content-security-policy']).toMatch(/default-src 'none'/);
    },
  );

  it('refuses a request without Host', async () => {
    const r = await raw('GET /api/campaigns HTTP/1.0\r\n\r\n');
    expect(r.status).toBe(421);
  });
});

describe('item 7: every answer carries the security headers', () => {
  it.each([
    ['GET', '/api/nope', 404],
    ['GET', '/assets/nope.js', 404],
    ['GET', '/api/grid?campaign=c&min=x', 400],
    ['DELETE', '/api/campaigns', 405],
    ['POST', '/api/actions/lock', 403],
    ['GET', '/api/campaigns', 200],
    ['GET', '/', 200],
  ])('%s %s → %d', async (method, u, code) => {
    const r = await fetch(`${d.url}${u.slice(1)}`, { method });
    expect(r.status).toBe(code);
    expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
  });

  it('on the event stream too', async () => {
    const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
      const req = http.get(`${d.url}api/events`, (res) => {
        resolve(res.headers);
        req.destroy();
      });
      req.on('error', reject);
    });
    expect(headers['content-security-policy']).toMatch(/default-src 'none'/);
  });
});
