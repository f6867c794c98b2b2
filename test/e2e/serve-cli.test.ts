/**
 * `runctrl serve` and `automation --serve` as an operator starts them (issue 14): weak tokens refused, a
 * warning when the dashboard is reachable from other machines, HTTPS with --tls-cert/--tls-key (a self-signed
 * certificate made by openssl in the test), and one-line errors for unusable TLS files and a taken port.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, expectCleanError, spawnCli, type CliResult } from '../helpers/cli.js';
import { freshDb, influxUrl } from '../helpers/influx.js';
import { ROOT } from '../helpers/ctx.js';

const client = freshDb('servecli');
const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-serve-cli-'));
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  RUNCTRL_INFLUXDB_URL: influxUrl(),
  RUNCTRL_STATE_DIR: path.join(dir, 'state'),
  ...extra,
});
const rc = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
  spawnCli(['--db', client.db, ...args], { env: env(extra), cwd: dir });

const TOKEN = 'tok-0123456789abcdef';

/** Starts `runctrl serve …`, resolves when it prints its URL; stop() sends SIGTERM and waits. */
function start(
  args: string[],
  extra: NodeJS.ProcessEnv = {},
): Promise<{ url: string; stderr: () => string; stop: () => Promise<number> }> {
  const child = spawn(process.execPath, [BIN, '--db', client.db, 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env(extra) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = / at (https?:\/\/[^ ]+\/)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], stderr: () => err, stop: () => (child.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}): ${err}`)));
  });
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function getTls(url: string, ca: Buffer): Promise<{ status: number; csp: string | undefined }> {
  return new Promise((resolve, reject) => {
    https
      .get(`${url}api/config`, { ca }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, csp: res.headers['content-security-policy'] as string });
      })
      .on('error', reject);
  });
}

/** A port taken by another listener for the duration of the test. */
let taken: net.Server;
let takenPort = 0;
beforeAll(async () => {
  taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  takenPort = (taken.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => taken.close(() => r())));

describe('serve tokens (item 6)', () => {
  it.each([
    ['a', /RUNCTRL_SERVE_TOKEN: the token has 1 characters, 16 at least are needed/],
    ['alice:', /RUNCTRL_SERVE_TOKEN: the token of 'alice' has 0 characters/],
  ])('refuses RUNCTRL_SERVE_TOKEN=%j with one line', async (tok, message) => {
    expectCleanError(
      await rc(['serve', '--port', '0', '--allow-actions'], { RUNCTRL_SERVE_TOKEN: tok }),
      1,
      message,
    );
  });
});

describe('exposure warnings (item 6)', () => {
  it('warns when listening beyond loopback without TLS, louder with actions', async () => {
    const s = await start(['--host', '0.0.0.0', '--allow-actions'], { RUNCTRL_SERVE_TOKEN: TOKEN });
    try {
      expect(s.stderr()).toMatch(
        /warning: listening on 0\.0\.0\.0, reachable from other machines without TLS/,
      );
      expect(s.stderr()).toMatch(/the actions token crosses the network in clear/);
      expect(s.stderr()).not.toContain(TOKEN);
      expect((await fetch(`${s.url.replace('0.0.0.0', '127.0.0.1')}api/config`)).status).toBe(200);
    } finally {
      expect(await s.stop(), s.stderr()).toBe(0);
    }
  });

  it('says nothing on loopback', async () => {
    const s = await start([]);
    try {
      expect(s.stderr()).toBe('');
    } finally {
      await s.stop();
    }
  });
});

describe('TLS (item 6)', () => {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const other = path.join(dir, 'other.pem');
  beforeAll(() => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    );
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', other);
  }, 60_000);

  it('serves HTTPS with the security headers, and warns of nothing in clear', async () => {
    const s = await start(['--host', '0.0.0.0', '--tls-cert', cert, '--tls-key', key]);
    try {
      expect(s.url).toMatch(/^https:\/\/0\.0\.0\.0:\d+\/$/);
      const r = await getTls(s.url.replace('0.0.0.0', '127.0.0.1'), readFileSync(cert));
      expect(r.status).toBe(200);
      expect(r.csp).toMatch(/default-src 'none'/);
      expect(s.stderr()).toMatch(/warning: listening on 0\.0\.0\.0, reachable from other machines\n/);
      expect(s.stderr()).not.toMatch(/in clear/);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it.each([
    [
      'a missing certificate',
      ['--tls-cert', '/nonexistent/c.pem', '--tls-key', 'KEY'],
      1,
      /cannot read --tls-cert \/nonexistent\/c\.pem \(no such file\)/,
    ],
    [
      'a key that is not PEM',
      ['--tls-cert', 'CERT', '--tls-key', '/etc/hostname'],
      1,
      /--tls-key \/etc\/hostname holds no PEM private key/,
    ],
    [
      'a key of another certificate',
      ['--tls-cert', 'CERT', '--tls-key', 'OTHER'],
      1,
      /cannot serve TLS with --tls-cert and --tls-key \(.*\): give a PEM certificate and its own private key/,
    ],
    ['a certificate without key', ['--tls-cert', 'CERT'], 2, /--tls-cert and --tls-key go together/],
  ])('refuses %s with one line', async (_what, args, code, message) => {
    const real = args.map((a) => (a === 'CERT' ? cert : a === 'KEY' ? key : a === 'OTHER' ? other : a));
    expectCleanError(await rc(['serve', '--port', '0', ...real]), code, message);
  });
});

describe('--allow-host (item 5)', () => {
  it('goes with automation --serve only', async () => {
    expectCleanError(
      await rc(['automation', '--once', '--allow-host', 'dash.example.org']),
      2,
      /--allow-host goes with --serve/,
    );
  });

  it('refuses a name that is no host name', async () => {
    expectCleanError(
      await rc(['serve', '--port', '0', '--allow-host', 'a b']),
      1,
      /--allow-host 'a b' is not a host name/,
    );
  });
});

describe('a port in use (item 10)', () => {
  it('serve --port P: one line naming the port and the flag', async () => {
    expectCleanError(
      await rc(['serve', '--port', String(takenPort)]),
      1,
      new RegExp(`port ${takenPort} is in use: choose another with --port`),
    );
  });

  it('automation --daemon --serve P: the same, naming --serve', async () => {
    expectCleanError(
      await rc(['automation', '--daemon', '--serve', String(takenPort)]),
      1,
      new RegExp(`port ${takenPort} is in use: choose another with --serve`),
    );
  });
});
