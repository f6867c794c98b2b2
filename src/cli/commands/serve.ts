import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, UserError } from '../../errors.js';
import type { Io } from '../io.js';
import { contextFrom } from '../context.js';
import { defineCommand } from '../define.js';
import { checkInt } from '../numbers.js';
import { isLoopback } from '../../util/hosts.js';

function newToken(io: Io): string {
  const tok = randomBytes(18).toString('base64url');
  io.err(`runctrl serve: actions token (shown once): ${tok}`);
  return tok;
}

function readPem(file: string, flag: string, io: Io): Buffer {
  const p = path.resolve(io.cwd, file);
  try {
    return readFileSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new UserError(`cannot read ${flag} ${file} (${why}): give a readable PEM file`);
  }
}

function readTls(io: Io, cert: string, key: string): { cert: Buffer; key: Buffer } {
  const out = { cert: readPem(cert, '--tls-cert', io), key: readPem(key, '--tls-key', io) };
  if (!out.cert.includes('-----BEGIN CERTIFICATE-----'))
    throw new UserError(`--tls-cert ${cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(out.key.toString('latin1')))
    throw new UserError(`--tls-key ${key} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`);
  return out;
}

/** A dashboard reachable from other machines: say so, and what crosses the network in clear. */
function warnExposure(io: Io, host: string, o: { tls: boolean; actions: boolean }): void {
  if (isLoopback(host)) return;
  const clear = o.tls
    ? ''
    : ' without TLS (every page, log tail' +
      (o.actions ? ' and the actions token' : '') +
      ' crosses the network in clear: give --tls-cert and --tls-key)';
  io.err(`runctrl serve: warning: listening on ${host}, reachable from other machines${clear}`);
  if (o.actions)
    io.err(
      'runctrl serve: warning: actions are allowed for anyone holding a token who can reach this address',
    );
}

export const serveCommand = defineCommand({
  command: 'serve',
  describe: 'a live web dashboard of the database (overview, run × workflow grid, runs, jobs, locks)',
  builder: (y) =>
    y
      .option('host', {
        type: 'string',
        default: '127.0.0.1',
        describe: 'address to bind (loopback by default)',
      })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0 = any free one)' })
      .option('job-root', {
        type: 'string',
        describe: 'job work directories, for log tails (default STATE_DIR/jobs)',
      })
      .option('max-in-flight', {
        type: 'number',
        describe: "the loop's --max-in-flight, to explain that limit",
      })
      .option('allow-actions', {
        type: 'boolean',
        default: false,
        describe: 'offer reprocess/reset/lock/unlock (token: RUNCTRL_SERVE_TOKEN, or one printed at start)',
      })
      .option('allow-host', {
        type: 'array',
        string: true,
        describe:
          'a host name the dashboard is reached by, besides localhost and the bound address (repeatable)',
      })
      .option('tls-cert', {
        type: 'string',
        describe: 'PEM certificate (chain): serve HTTPS (with --tls-key)',
      })
      .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
      .check((a) => {
        if ((a.tlsCert === undefined) !== (a.tlsKey === undefined))
          throw new UsageError('--tls-cert and --tls-key go together: give both');
        checkInt(a.port, '--port', 0, 65535);
        checkInt(a.maxInFlight, '--max-in-flight', 1);
        return true;
      })
      .example('$0 --db ecal_prompt_v1 serve', 'http://127.0.0.1:8080/')
      .example(
        '$0 --db ecal_prompt_v1 serve --host 0.0.0.0 --port 9000 --allow-host cr-dash.cern.ch --tls-cert dash.pem --tls-key dash.key --allow-actions',
        'for the control room',
      ),
  handler: async (a, io) => {
    const [
      { ctx, config },
      { parseTokens },
      { serve },
      { storeSource },
      { backendPool },
      { knownSecrets },
      { Metrics },
    ] = await Promise.all([
      contextFrom(a, io),
      import('../../web/actions.js'),
      import('../../web/server.js'),
      import('../../web/source.js'),
      import('../backend-pool.js'),
      import('../../util/redact.js'),
      import('../../automation/metrics.js'),
    ]);
    // /metrics (this process and its InfluxDB requests) and /healthz (the last InfluxDB request answered)
    const metrics = new Metrics({ store: ctx.store });
    const log = (l: string): void => io.err(l);
    const tls =
      a.tlsCert !== undefined && a.tlsKey !== undefined ? readTls(io, a.tlsCert, a.tlsKey) : undefined;
    const tokens = a.allowActions ? parseTokens(io.env.RUNCTRL_SERVE_TOKEN || newToken(io)) : undefined;
    warnExposure(io, a.host, { tls: tls !== undefined, actions: a.allowActions });
    const pool = backendPool(config, io.env);
    const actions = tokens ? { ctx, backend: pool.get, tokens } : undefined;
    const source = storeSource(ctx.store, {
      onError: (e) => log(`runctrl serve: ${e instanceof Error ? e.message : String(e)}`),
    });
    const d = await serve({
      source,
      host: a.host,
      port: a.port,
      jobRoot: path.resolve(io.cwd, a.jobRoot ?? path.join(config.stateDir, 'jobs')),
      ...(a.maxInFlight !== undefined ? { maxInFlight: a.maxInFlight } : {}),
      ...(actions ? { actions } : {}),
      log,
      allowHosts: a.allowHost ?? [],
      secrets: knownSecrets(config, io.env),
      ...(tls ? { tls } : {}),
      endpoints: metrics,
    }).catch(async (e: unknown) => {
      source.close();
      metrics.close();
      await pool.close();
      throw e;
    });
    // listening for the signals before the URL is printed: whoever reads it may stop the server at once
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    io.out(
      `runctrl serve: dashboard of database '${ctx.store.db}' at ${d.url}${a.allowActions ? ' (actions allowed)' : ' (read-only)'}`,
    );
    await stopped;
    await d.close();
    metrics.close();
    await pool.close();
  },
});
