/**
 * The dashboard's listening socket (HTTP, or HTTPS with --tls-cert/--tls-key) with the guard of guard.ts
 * around every request: the handler gets a parsed URL and an `Answer` that adds the security headers and
 * redacts secrets; whatever it throws becomes a 400/500 answer. Socket-level bounds (header and request
 * timeouts, connection count) keep slow or malformed clients from holding the process.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { UserError } from '../errors.js';
import type { Redactor } from '../util/redact.js';
import {
  allowedHosts,
  fail,
  guarded,
  hasBody,
  hostRefusal,
  HttpError,
  onClientError,
  parseTarget,
  send,
  sendJson,
} from './guard.js';

export interface GuardOptions {
  host: string;
  port: number;
  allowHosts: readonly string[];
  redactor: Redactor;
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** The flag that sets the port, named when the port is taken. */
  portFlag: string;
  log: (line: string) => void;
}

/** How a handler answers: JSON or a body, with the security headers, secrets redacted. */
export interface Answer {
  json(code: number, v: unknown, extra?: Record<string, string>): void;
  send(code: number, type: string, body: string | Buffer): void;
  fail(e: unknown): void;
}

export type Handler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  answer: Answer,
) => Promise<void> | void;

function createServer(o: GuardOptions, listener: http.RequestListener): http.Server {
  // a request without Host is the guard's to refuse (421 with the headers of every answer), not node's bare 400
  const opts = { requireHostHeader: false };
  if (!o.tls) return http.createServer(opts, listener);
  try {
    return https.createServer({ ...opts, cert: o.tls.cert, key: o.tls.key }, listener);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^error:[0-9A-F]+:[^:]*::?/i, '') : String(e);
    throw new UserError(
      `cannot serve TLS with --tls-cert and --tls-key (${why.split('\n')[0]}): give a PEM certificate and its own private key`,
    );
  }
}

function listenError(e: NodeJS.ErrnoException, o: GuardOptions): UserError {
  if (e.code === 'EADDRINUSE')
    return new UserError(`port ${o.port} is in use: choose another with ${o.portFlag}`);
  if (e.code === 'EACCES')
    return new UserError(
      `port ${o.port} needs privileges (ports below 1024): choose another with ${o.portFlag}`,
    );
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
    return new UserError(
      `cannot listen on '${o.host}': not an address of this machine (give another with --host)`,
    );
  return new UserError(`cannot listen on ${o.host}:${o.port} (${e.code ?? e.message})`);
}

export async function listenGuarded(
  o: GuardOptions,
  handle: Handler,
): Promise<{ server: http.Server; url: string }> {
  let allowed = allowedHosts(o.host, o.allowHosts);
  const listener = guarded(
    (req, res) => {
      const answer: Answer = {
        json: (code, v, extra) => sendJson(res, code, v, o.redactor, extra),
        send: (code, type, body) => send(res, code, type, body),
        fail: (e) => fail(res, e, o.log, o.redactor),
      };
      const refused = hostRefusal(req, allowed);
      if (refused) throw new HttpError(421, refused);
      const url = parseTarget(req.url);
      // a body no handler reads is not waited for: the connection closes after the answer
      if (hasBody(req) && req.method !== 'POST') res.setHeader('Connection', 'close');
      return handle(req, res, url, answer);
    },
    o.log,
    o.redactor,
  );
  const server = createServer(o, listener);
  server.on('clientError', onClientError);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.maxHeadersCount = 100;
  server.maxConnections = 512;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(listenError(e, o)));
    server.listen(o.port, o.host, () => resolve());
  });
  server.on('error', (e) => o.log(`runctrl serve: ${e.message}`));
  const a = server.address() as AddressInfo;
  allowed = allowedHosts(a.address, o.allowHosts);
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { server, url: `${o.tls ? 'https' : 'http'}://${host}:${a.port}/` };
}
