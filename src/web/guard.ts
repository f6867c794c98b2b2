/**
 * What stands between a request and the dashboard's handlers, so that no request can crash the process (the
 * daemon's loop runs in it), stall it, or read it from another origin: the request target parsed without
 * throwing and capped in length, the Host header checked against the names this server answers to (DNS
 * rebinding), heavy requests limited in number, the security headers on every answer, secrets redacted from
 * every JSON answer, and any exception of a handler turned into a 400/500 answer.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { NotFoundError, UserError } from '../errors.js';
import type { Redactor } from '../util/redact.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Longest request target (path and query) answered; longer ones get 414. */
export const MAX_TARGET = 8192;
/** Largest request body read (action bodies); larger ones get 413. */
export const MAX_BODY = 64 * 1024;

/** A request error: its HTTP status and one line for the answer. */
export class HttpError extends UserError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function send(
  res: http.ServerResponse,
  code: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
  res.end(body);
}

export function sendJson(
  res: http.ServerResponse,
  code: number,
  v: unknown,
  redactor?: Redactor,
  extra: Record<string, string> = {},
): void {
  send(res, code, 'application/json; charset=utf-8', JSON.stringify(redactor ? redactor.value(v) : v), extra);
}

/** The answer to a failed handler: a UserError is the client's (400 or its status), anything else is ours. */
export function fail(
  res: http.ServerResponse,
  e: unknown,
  log: (l: string) => void,
  redactor?: Redactor,
): void {
  if (e instanceof UserError) {
    const status = e instanceof HttpError ? e.status : e instanceof NotFoundError ? 404 : 400;
    const extra: Record<string, string> = status === 503 || status === 429 ? { 'Retry-After': '1' } : {};
    if (status === 413) extra.Connection = 'close';
    return sendJson(res, status, { error: e.message.split('\n')[0]?.slice(0, 500) }, redactor, extra);
  }
  // never echo internals (they may name hosts or paths); the operator sees them in the server's log
  const msg = e instanceof Error ? e.message : String(e);
  log(`runctrl serve: ${redactor ? redactor.text(msg) : msg}`);
  sendJson(res, 500, { error: 'internal error (see the server log)' });
}

/** The request target as a URL (origin-form or absolute-form), or an HttpError; never throws anything else. */
export function parseTarget(raw: string | undefined): URL {
  const t = raw ?? '/';
  if (t.length > MAX_TARGET)
    throw new HttpError(414, `request target too long (${MAX_TARGET} characters at most)`);
  let url: URL | undefined;
  try {
    if (t.startsWith('/')) url = new URL(`http://dashboard${t}`);
    else if (/^https?:\/\//i.test(t)) url = new URL(t);
  } catch {
    url = undefined;
  }
  if (!url || !url.pathname.startsWith('/')) throw new HttpError(400, 'malformed request target');
  return url;
}

/** The host name of a Host header (lower case, no port, IPv6 in brackets), or undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m?.[1]) return undefined;
  return m[1].toLowerCase().replace(/\.$/, '');
}

/** The names a server bound to `address` answers to: loopback names, the address itself, the allowed ones. */
export function allowedHosts(address: string, extra: readonly string[] = []): Set<string> {
  const bound = address.includes(':') ? `[${address}]` : address;
  const out = new Set(['localhost', '127.0.0.1', '[::1]', bound.toLowerCase()]);
  for (const h of extra) {
    const n = hostName(h);
    if (!n)
      throw new UserError(
        `--allow-host '${h.slice(0, 100)}' is not a host name (give e.g. --allow-host dash.example.org)`,
      );
    out.add(n);
  }
  return out;
}

/**
 * The refusal of a request whose Host is not one of ours (a page of another site reaching this server
 * through DNS rebinding), or undefined when it may be answered.
 */
export function hostRefusal(req: http.IncomingMessage, allowed: ReadonlySet<string>): string | undefined {
  const raw = req.headers.host;
  const name = hostName(raw);
  if (name && allowed.has(name)) return undefined;
  const shown = (raw ?? '').replace(/[^\x21-\x7e]/g, '?').slice(0, 100);
  return `host '${shown}' is not served here: start the dashboard with --allow-host ${name ?? 'NAME'} to allow it`;
}

/** At most `max` holders at once; the others are turned away (not queued: queues are where stalls hide). */
export class Gate {
  private held = 0;
  constructor(readonly max: number) {}
  enter(what: string): () => void {
    if (this.held >= this.max)
      throw new HttpError(503, `busy: ${this.max} ${what} already in progress, try again in a moment`);
    this.held++;
    let left = false;
    return () => {
      if (!left) this.held--;
      left = true;
    };
  }
}

/** Whether the request carries a body (which handlers other than actions never read). */
export const hasBody = (req: http.IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/** A request listener that never throws: a synchronous throw or a rejection becomes a 400/500 answer. */
export function guarded(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void,
  log: (l: string) => void,
  redactor?: Redactor,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    res.on('error', () => undefined);
    req.on('error', () => undefined);
    const onError = (e: unknown): void => {
      try {
        fail(res, e, log, redactor);
      } catch {
        res.destroy();
      }
    };
    try {
      const p = handle(req, res);
      if (p) p.catch(onError);
    } catch (e) {
      onError(e);
    }
  };
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'request headers too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request not received in time'],
};

/** Malformed HTTP (node's parser refused it): a 400 (431, 408) with the headers of every answer, then close. */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  socket.on('error', () => undefined);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, phrase, what] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request', 'malformed request'];
  const body = JSON.stringify({ error: what });
  const head = Object.entries({
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${phrase}\r\n${head}\r\n${body}`);
}
