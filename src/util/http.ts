/**
 * HTTP requests on node:http(s) with keep-alive sockets (the InfluxDB client, the OMS client, webhooks): a GET
 * whose answer is streamed as text, a GET or POST whose answer is read whole. Redirects are not followed. Answers may come gzip-compressed (asked for when
 * the server is not on this host, where compressing costs more than it saves). A request that takes longer
 * than its timeout is aborted.
 *
 * Outcomes, for the caller to map onto the error module: an answer outside 2xx is an HttpStatusError (status,
 * headers, body up to 64 KB); a socket error or a timeout is a NetworkError (its code).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createGunzip } from 'node:zlib';
import { isLoopback } from './hosts.js';

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingMessage['headers'],
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

export class NetworkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpOptions {
  /** Base URL (scheme, host, port, optional path prefix) that request paths are relative to. */
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

const ERROR_BODY_MAX = 64 * 1024;

export class HttpClient {
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly gzip: boolean;

  /** The options hold credentials (headers): kept out of JSON.stringify and util.inspect. */
  readonly #o: HttpOptions;

  constructor(o: HttpOptions) {
    this.#o = o;
    this.base = new URL(`${o.url.replace(/\/+$/, '')}/`);
    const https = this.base.protocol === 'https:';
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 8 })
      : new HttpAgent({ keepAlive: true, maxSockets: 8 });
    this.send = https ? httpsRequest : httpRequest;
    this.gzip = !isLoopback(this.base.hostname);
  }

  /** A GET whose answer is given as text pieces, as they arrive. */
  async *stream(path: string, params: Record<string, string>): AsyncGenerator<string> {
    const res = await this.open('GET', path, params);
    try {
      yield* this.decoded(res);
    } finally {
      res.destroy();
    }
  }

  /** A request whose answer is read whole: its text and headers. */
  async text(
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, string>,
    body?: { data: Buffer; type: string },
    headers: Record<string, string> = {},
  ): Promise<{ text: string; headers: IncomingMessage['headers'] }> {
    const res = await this.open(method, path, params, body, headers);
    let text = '';
    for await (const piece of this.decoded(res)) text += piece;
    return { text, headers: res.headers };
  }

  toJSON(): { url: string } {
    return { url: this.base.href };
  }

  /** Closes the idle keep-alive sockets (the process may exit without waiting for them). */
  close(): void {
    this.agent.destroy();
  }

  private async *decoded(res: IncomingMessage): AsyncGenerator<string> {
    const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
    body.setEncoding('utf8');
    try {
      for await (const piece of body as AsyncIterable<string>) yield piece;
    } catch (err) {
      throw asNetworkError(err);
    }
  }

  /** Sends a request; resolves on a 2xx answer (body unread), rejects with the outcome otherwise. */
  private open(
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, string>,
    body?: { data: Buffer; type: string },
    extra: Record<string, string> = {},
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...this.#o.headers, ...extra };
    if (this.gzip) headers['accept-encoding'] = 'gzip';
    if (body) {
      headers['content-type'] = body.type;
      headers['content-length'] = String(body.data.length);
    }
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.send(url, { method, headers, agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        void readCapped(this.decoded(res)).then(
          (text) => reject(new HttpStatusError(status, res.headers, text)),
          () => reject(new HttpStatusError(status, res.headers, '')),
        );
      });
      req.setTimeout(this.#o.timeoutMs, () =>
        req.destroy(new NetworkError('ETIMEDOUT', `no answer within ${this.#o.timeoutMs} ms`)),
      );
      req.on('error', (err) => reject(asNetworkError(err)));
      req.end(body?.data);
    });
  }
}

async function readCapped(pieces: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const p of pieces) {
    text += p;
    if (text.length > ERROR_BODY_MAX) return text.slice(0, ERROR_BODY_MAX);
  }
  return text;
}

function asNetworkError(err: unknown): Error {
  if (err instanceof NetworkError || err instanceof HttpStatusError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return new NetworkError(typeof code === 'string' ? code : 'ERR_NETWORK', msg);
}
