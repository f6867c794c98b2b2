#!/usr/bin/env node
/**
 * Fail-over benchmark (issue 15): how long a stand-by daemon takes to take over a campaign when the daemon
 * holding it is killed with SIGKILL (its lease must expire), at the default --interval 60s (lease 180 s) and
 * at --interval 5s (lease 30 s, the minimum), and how long a SIGTERM hand-over takes (the lease is released).
 *
 *   npm run build && npm run bench:failover
 *   node bench/failover.mjs --rounds-default 1 --rounds-5s 10     (the default-interval rounds take ~4 min each)
 *
 * Options: --rounds-default N (default 2; 0 skips that setting), --rounds-5s N (default 10), --keep.
 * Two daemons (lease identities bench-a and bench-b through RUNCTRL_HOST, their own state directories) run
 * against a private InfluxDB (scripts/influxdb.sh) on one campaign; each round kills the holder at a random
 * moment of its interval, times until the other holds the lease, and starts the killed one again as the
 * stand-by. Printed: take-over times (median, max) and the bound they should stay under (lease + interval),
 * and their ratio to it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'runctrl.js');
const { Store } = await import(path.join(root, 'dist', 'store', 'store.js'));
const { leaseHolder } = await import(path.join(root, 'dist', 'domain', 'jobs.js'));

function parseArgs(argv) {
  const o = { roundsDefault: 2, rounds5s: 10, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => Math.max(0, Number(argv[++i]) || 0);
    if (a === '--rounds-default') o.roundsDefault = num();
    else if (a === '--rounds-5s') o.rounds5s = num();
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/failover.mjs [--rounds-default N] [--rounds-5s N] [--keep]');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bench-failover-'));
const influxDir = path.join(base, 'influx');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const daemons = new Set();

const url = execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'up', influxDir], {
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop();
const db = 'bench_failover';
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME ?? '/tmp',
  RUNCTRL_INFLUXDB_URL: url,
  RUNCTRL_DB: db,
  RUNCTRL_RUN_SOURCE: path.join(root, 'data', 'runs', 'sample-registry.json'),
};
const { InfluxClient } = await import(path.join(root, 'dist', 'store', 'influx.js'));
const store = new Store(new InfluxClient({ url, db }));

function runctrl(args) {
  execFileSync(process.execPath, [bin, ...args], {
    env: { ...env, RUNCTRL_STATE_DIR: path.join(base, 'ops') },
  });
}

function start(host, interval) {
  const p = spawn(process.execPath, [bin, 'automation', '--daemon', '--interval', interval, '-c', 'fo'], {
    env: { ...env, RUNCTRL_HOST: host, RUNCTRL_STATE_DIR: path.join(base, `state-${host}`) },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  daemons.add(p);
  p.on('exit', () => daemons.delete(p));
  return p;
}

async function holder() {
  const claims = await store.leasePointsByScope(Date.now() - 3_600_000);
  return leaseHolder(claims.get('fo') ?? [], Date.now())?.owner.split(':')[0];
}

/** ms until `ok` holds, polling every 100 ms. */
async function until(ok, timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    if (await ok()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out');
    await sleep(100);
  }
}

const exited = (p) =>
  new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.on('exit', r)));

async function setting(label, interval, intervalMs, rounds) {
  const ttlMs = Math.max(3 * intervalMs, 30_000);
  const procs = { 'bench-a': start('bench-a', interval) };
  await until(async () => (await holder()) === 'bench-a', 60_000);
  procs['bench-b'] = start('bench-b', interval);
  await sleep(Math.min(intervalMs, 5_000) + 2_000); // the stand-by's first pass
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const victim = await holder();
    await sleep(Math.random() * intervalMs); // a random moment of the holder's interval
    const t = await (async () => {
      procs[victim].kill('SIGKILL');
      await exited(procs[victim]);
      return until(
        async () => {
          const h = await holder();
          return h !== undefined && h !== victim;
        },
        ttlMs + 4 * intervalMs + 30_000,
      );
    })();
    times.push(t);
    console.error(`  ${label} round ${i + 1}/${rounds}: ${(t / 1000).toFixed(1)} s`);
    procs[victim] = start(victim, interval);
    await sleep(Math.min(intervalMs, 5_000) + 2_000);
  }
  // SIGTERM: the holder releases its lease on its way out
  const h = await holder();
  procs[h].kill('SIGTERM');
  const term = await until(
    async () => {
      const x = await holder();
      return x !== undefined && x !== h;
    },
    4 * intervalMs + 30_000,
  );
  for (const p of Object.values(procs)) p.kill('SIGTERM');
  await Promise.all(Object.values(procs).map(exited));
  const bound = ttlMs + intervalMs;
  const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
  return `--interval ${interval} (lease ${s(ttlMs)}), ${rounds} kill(s): take-over median ${s(median(times))}, max ${s(Math.max(...times))} (bound lease + interval ${s(bound)}; max/bound ${(Math.max(...times) / bound).toFixed(2)}); SIGTERM hand-over ${s(term)}`;
}

try {
  writeFileSync(
    path.join(base, 'fo.json'),
    JSON.stringify({
      campaign: 'fo',
      rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
      workflows: { A: { command: 'true' } },
    }),
  );
  runctrl(['apply', path.join(base, 'fo.json')]);
  const lines = [];
  if (o.rounds5s > 0) lines.push(await setting('5s', '5s', 5_000, o.rounds5s));
  if (o.roundsDefault > 0) lines.push(await setting('60s', '60s', 60_000, o.roundsDefault));
  for (const l of lines) console.log(l);
} finally {
  for (const p of daemons) p.kill('SIGKILL');
  execFileSync('bash', [path.join(root, 'scripts', 'influxdb.sh'), 'down', influxDir], { stdio: 'ignore' });
  if (!o.keep) rmSync(base, { recursive: true, force: true });
}
