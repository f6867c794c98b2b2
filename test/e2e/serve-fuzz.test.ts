/**
 * HTTP fuzzing of the dashboard (issue 14): random request targets, methods, headers and bodies — malformed
 * targets (`//`, `http://[/`), bad percent-encoding, huge lists and URLs, bad and huge bodies, foreign Host
 * headers, malformed HTTP — against `automation --daemon --serve` while it runs a campaign to done on the
 * local backend, then against `runctrl serve --allow-actions` on the same database. Afterwards each process
 * is alive and answers a normal GET, every answer carried the security headers, none was a 500, and every
 * unit of the daemon's run was executed exactly once. A job that prints its environment (`env`) has its tail
 * shown with the InfluxDB password replaced. Bounded in count and time, loopback only, 8 requests at a time;
 * nothing here asserts speed. The seed is printed on failure (FUZZ_SEED=… replays it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const SECRET = 'fuzz-pw-"7"-\\-x';
const TOKEN = 'fuzz-token-0123456789';
const C = 'fuzz';
const RUNS = [392001, 392002, 392003, 392004, 392005, 392006];

/** mulberry32: a small seeded generator, so that a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface JobList {
  jobs: { name: string; workflow: string }[];
}

interface Outcome {
  status: number;
  head: string;
  body: string;
}

/**
 * One raw request on its own connection (`Connection: close`): the answer is read until the server closes;
 * a request the server still waits on (a body shorter than announced) is half-closed after a second of
 * silence. Status 0 when no answer came.
 */
function rawRequest(port: number, data: Buffer, stream: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      const head = i < 0 ? text : text.slice(0, i);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: text.slice(i + 4),
      });
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      // an event stream stays open: its head is enough
      if (stream && Buffer.concat(chunks).includes('\r\n\r\n')) s.destroy();
    });
    s.on('error', () => undefined);
    s.on('close', done);
    let idle = 0;
    // silence: half-close once (the server then ends what it waits for), and give up after a minute
    s.setTimeout(1000, () => (idle++ === 0 ? s.end() : idle > 60 && s.destroy()));
    s.write(data, () => undefined);
  });
}

function fuzzer(seed: number, port: number, jobs: () => string[]) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const junk = (n: number): string =>
    Array.from({ length: n }, () => String.fromCharCode(Math.floor(r() * 95) + 32)).join('');
  const pct = (n: number): string =>
    Array.from(
      { length: n },
      () =>
        `%${Math.floor(r() * 256)
          .toString(16)
          .padStart(2, '0')}`,
    ).join('');
  const num = (): string =>
    pick(['1', '0', '-5', 'abc', '392003', '1e309', '', '99999999999999', '0x10', 'NaN']);
  const targets: (() => string)[] = [
    () => '/',
    () => '//',
    () => 'http://[/',
    () => `http://127.0.0.1:${port}/api/campaigns`,
    () => '*',
    () => '/api/campaigns',
    () =>
      `/api/grid?campaign=${C}&workflow=${Array(1 + Math.floor(r() * 1500))
        .fill('A')
        .join(',')}`,
    () => `/api/grid?campaign=${C}&workflow=${Array.from({ length: 150 }, (_, i) => `w${i}`).join(',')}`,
    () => `/api/grid?campaign=${pick([C, '%E0%A4%A', pct(6), '<x>', ''])}&status=${pick(['done', 'x', ''])}`,
    () => `/api/status?campaign=${C}&min=${num()}&max=${num()}`,
    () => `/api/run?campaign=${C}&run=${num()}`,
    () => `/api/why?campaign=${C}&run=${num()}&workflow=${pick(['A', 'B', 'nope', pct(3)])}`,
    () => `/api/jobs?campaign=${C}&limit=${num()}&status=${pick(['done', 'bogus', ''])}`,
    () => `/api/charts?campaign=${C}`,
    () => `/api/locks`,
    () => `/api/config`,
    () =>
      `/api/log?campaign=${C}&job=${pick([...jobs(), pct(5), '../../etc/passwd'])}&stream=${pick(['stdout', 'stderr', 'x'])}`,
    () => '/api/events',
    () =>
      pick([
        '/assets/app.js',
        '/assets/../../etc/passwd',
        '/assets/%2e%2e/x',
        '/run/fuzz/1',
        '/campaign/%E0%A4%A',
      ]),
    () => `/api/${junk(8)}`,
    () => `/${pct(Math.floor(r() * 40))}`,
    () => `/?${'q=x&'.repeat(3000)}`,
    () => `/${junk(20)}`,
  ];
  const bodies: (() => string)[] = [
    () => '',
    () => '{"campaign":',
    () =>
      JSON.stringify({
        campaign: C,
        workflow: 'A',
        runs: [Number(num()) || 'x'],
        mode: pick(['all', 'bogus']),
      }),
    () =>
      JSON.stringify({
        campaign: 'nope',
        workflow: 'A',
        fromRun: pick(['abc', -5, 3, 1.5]),
        reason: pick(['', 'r']),
      }),
    () => JSON.stringify({ campaign: pick(['<x>', C]), workflow: pick(['A', 'B', '']), runs: 'x' }),
    () => JSON.stringify([1, 2, 3]),
    () => 'x'.repeat(70_000 + Math.floor(r() * 200_000)),
    () => junk(200),
  ];
  return (): { data: Buffer; stream: boolean } => {
    const method = pick([
      'GET',
      'GET',
      'GET',
      'GET',
      'HEAD',
      'POST',
      'POST',
      'PUT',
      'DELETE',
      'OPTIONS',
      'FOO',
      'G\x01T',
    ]);
    const post = method === 'POST' && r() < 0.7;
    const target = post
      ? `/api/actions/${pick(['reprocess', 'reset', 'lock', 'unlock', 'explode', '%zz'])}`
      : pick(targets)();
    const host = pick([
      `127.0.0.1:${port}`,
      `127.0.0.1:${port}`,
      `127.0.0.1:${port}`,
      'localhost',
      'attacker.example',
      '',
      '[::1]',
    ]);
    const body = method === 'GET' || method === 'HEAD' ? (r() < 0.1 ? junk(100) : '') : pick(bodies)();
    const lines = [`${method} ${target} HTTP/1.1`];
    if (host) lines.push(`Host: ${host}`);
    if (r() < 0.5) lines.push(`X-Runctrl-Token: ${pick([TOKEN, TOKEN.slice(1), '', junk(30)])}`);
    if (r() < 0.5) lines.push(`Content-Type: ${pick(['application/json', 'text/plain', junk(10)])}`);
    if (r() < 0.03) lines.push(`X-Big: ${'b'.repeat(20_000)}`);
    if (r() < 0.03) lines.push(`Bad Header ${junk(5)}`);
    const chunked = r() < 0.05;
    if (chunked) lines.push('Transfer-Encoding: chunked');
    else if (body) lines.push(`Content-Length: ${r() < 0.1 ? body.length + 5 : body.length}`);
    lines.push('Connection: close');
    const payload = chunked
      ? `${body.length.toString(16)}\r\n${body}\r\n${pick(['0\r\n\r\n', 'zz\r\n'])}`
      : body;
    return {
      data: Buffer.from(`${lines.join('\r\n')}\r\n\r\n${payload}`, 'latin1'),
      stream: target === '/api/events',
    };
  };
}

interface Tally {
  sent: number;
  byStatus: Map<number, number>;
  headerless: string[];
}

/** Up to `max` requests, 8 at a time, until `enough()` or `maxMs` is spent. */
async function fuzz(
  port: number,
  seed: number,
  o: { max: number; maxMs: number; enough: (sent: number) => boolean; jobs: () => string[] },
): Promise<Tally> {
  const next = fuzzer(seed, port, o.jobs);
  const t: Tally = { sent: 0, byStatus: new Map(), headerless: [] };
  const t0 = Date.now();
  const worker = async (): Promise<void> => {
    while (t.sent < o.max && Date.now() - t0 < o.maxMs && !o.enough(t.sent)) {
      t.sent++;
      const req = next();
      const res = await rawRequest(port, req.data, req.stream);
      t.byStatus.set(res.status, (t.byStatus.get(res.status) ?? 0) + 1);
      if (res.status > 0 && !/content-security-policy: default-src 'none'/i.test(res.head))
        t.headerless.push(`${res.status} ${req.data.toString('latin1').slice(0, 80)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return t;
}

function checkTally(t: Tally, what: string): void {
  const msg = `${what}, seed ${SEED}: ${t.sent} requests, by status ${JSON.stringify([...t.byStatus])}`;
  if (process.env.FUZZ_VERBOSE) console.log(msg);
  expect(t.sent, msg).toBeGreaterThan(100);
  expect(t.byStatus.get(500) ?? 0, msg).toBe(0);
  expect(t.headerless, msg).toEqual([]);
  // the cases that matter were answered at all
  expect(t.byStatus.get(200) ?? 0, msg).toBeGreaterThan(0);
  expect(t.byStatus.get(400) ?? 0, msg).toBeGreaterThan(0);
  expect(t.byStatus.get(421) ?? 0, msg).toBeGreaterThan(0);
}

/** Spawns the CLI as a long-running process; resolves with its port once `pattern` shows on stdout/stderr. */
function startProcess(
  e: LoopEnv,
  args: string[],
  extra: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; port: number; out: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: e.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: string): void => {
      out += d;
      const m = /(?:dashboard at|dashboard of database '[^']*' at) http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m?.[1]) resolve({ child, port: Number(m[1]), out: () => out });
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args[0] ?? ''} exited (${code}): ${out}`)));
  });
}

const stop = (child: ChildProcess): Promise<number> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code ?? -1));
    child.kill('SIGTERM');
  });

async function getJson<T>(port: number, u: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${port}${u}`);
  expect(r.status, u).toBe(200);
  return (await r.json()) as T;
}

describe('HTTP fuzzing of the dashboard', () => {
  const db = freshDb('fuzz');
  let e: LoopEnv;
  let daemon: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  const secretEnv = { RUNCTRL_INFLUXDB_PASSWORD: SECRET, RUNCTRL_INFLUXDB_USER: 'op' };

  beforeAll(async () => {
    e = loopEnv(
      db.db,
      RUNS.map((r) => makeRun(r)),
    );
    writeCampaign(
      e,
      {
        campaign: C,
        rtypes: { all: { filter: { global: true }, workflows: ['A', 'B'] } },
        workflows: {
          A: { command: loggingCommand('a', 'env; sleep 0.3; '), backend: 'local' },
          B: { command: loggingCommand('b', 'sleep 0.2; '), backend: 'local', depends_on: ['A'] },
        },
      },
      `${C}.json`,
    );
    await ok(e, ['apply', path.join(e.dir, `${C}.json`)]);
    await ok(e, ['inject', '--campaign', C, '--range', `${RUNS[0]},${RUNS[RUNS.length - 1]}`]);
  });
  afterAll(async () => {
    if (daemon) await stop(daemon);
    if (server) await stop(server);
  });

  it('automation --daemon --serve: every unit done exactly once under fuzzing; no secret in a tail', async () => {
    const d = await startProcess(
      e,
      ['automation', '--daemon', '--interval', '60s', '-c', C, '--serve', '0'],
      secretEnv,
    );
    daemon = d.child;
    let jobs: string[] = [];
    let done = false;
    const watch = (async () => {
      while (!done && daemon.exitCode === null) {
        const s = await statusOf(e, C);
        done = Object.values(s.totals).every((x) => x.done === RUNS.length);
        const list = await fetch(`http://127.0.0.1:${d.port}/api/jobs?campaign=${C}`).catch(() => undefined);
        if (list?.ok) jobs = ((await list.json()) as JobList).jobs.map((j) => j.name);
        if (!done) await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const t = await fuzz(d.port, SEED, {
      max: 12_000,
      maxMs: 30_000,
      enough: (n) => done && n >= 3000,
      jobs: () => jobs,
    });
    await watch.catch(() => undefined);
    // the pass went on whatever the requests did: done, if need be after the fuzzing stopped
    for (let i = 0; i < 120 && !done; i++) {
      await new Promise((r) => setTimeout(r, 500));
      done = Object.values((await statusOf(e, C)).totals).every((x) => x.done === RUNS.length);
    }
    expect(daemon.exitCode, d.out()).toBeNull();
    expect(done, `not done: ${JSON.stringify((await statusOf(e, C)).totals)} (seed ${SEED})`).toBe(true);
    checkTally(t, 'daemon');
    expect((await getJson<{ campaign: string }[]>(d.port, '/api/campaigns')).map((c) => c.campaign)).toEqual([
      C,
    ]);
    // every unit exactly once
    const lines = readFileSync(e.execLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${C} `));
    const perUnit = new Map<string, number>();
    for (const l of lines) {
      const [, wf, runs] = l.split(' ');
      perUnit.set(`${wf} ${runs}`, (perUnit.get(`${wf} ${runs}`) ?? 0) + 1);
    }
    expect(perUnit.size).toBe(2 * RUNS.length);
    expect(
      [...perUnit.values()].every((n) => n === 1),
      JSON.stringify([...perUnit]),
    ).toBe(true);
    // item 4: the job printed its environment; the dashboard shows it with the password replaced
    const a = (await getJson<JobList>(d.port, `/api/jobs?campaign=${C}`)).jobs.find(
      (j) => j.workflow === 'A',
    );
    const tail = await getJson<{ text: string }>(
      d.port,
      `/api/log?campaign=${C}&job=${a?.name ?? ''}&stream=stdout`,
    );
    expect(tail.text).toContain('RUNCTRL_INFLUXDB_PASSWORD=***');
    expect(tail.text).not.toContain('fuzz-pw');
    expect(await stop(daemon)).toBe(0);
  });

  it('runctrl serve --allow-actions: alive and answering after fuzzing', async () => {
    const s = await startProcess(e, ['serve', '--port', '0', '--allow-actions'], {
      ...secretEnv,
      RUNCTRL_SERVE_TOKEN: `fuzzer:${TOKEN}`,
    });
    server = s.child;
    const jobs = (await getJson<JobList>(s.port, `/api/jobs?campaign=${C}`)).jobs.map((j) => j.name);
    const t = await fuzz(s.port, SEED + 1, {
      max: 8_000,
      maxMs: 15_000,
      enough: () => false,
      jobs: () => jobs,
    });
    expect(server.exitCode, s.out()).toBeNull();
    checkTally(t, 'serve');
    expect((await getJson<{ campaign: string }[]>(s.port, '/api/campaigns')).map((c) => c.campaign)).toEqual([
      C,
    ]);
    const tail = await getJson<{ text: string }>(
      s.port,
      `/api/log?campaign=${C}&job=${jobs.find((j) => j.includes('.A.')) ?? ''}&stream=stdout`,
    );
    expect(tail.text).toContain('RUNCTRL_INFLUXDB_PASSWORD=***');
    expect(s.out()).not.toContain(TOKEN);
  });
});
