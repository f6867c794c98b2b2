/**
 * OMS access tokens by the OAuth2 client-credentials grant (CERN's Keycloak), through `oauth4webapi`
 * (RFC 6749 request encoding and token-response validation; the error body parsed into `error` /
 * `error_description`).
 *
 * Request: `POST {tokenUrl}` form `grant_type=client_credentials&client_id=…&client_secret=…&audience=…`.
 * Answer:  `{ "access_token": "…", "expires_in": 1200, "token_type": "Bearer", … }`.
 *
 * A token is fetched on first use, kept in memory, and renewed once less than a margin of its lifetime
 * is left (a quarter of it, at most 30 s), or when OMS answers 401 (`renew`). Concurrent callers share one
 * token request. Failures: wrong id/secret (`invalid_client`) and an unknown audience are user errors
 * naming the setting to fix; an unreachable endpoint, a timeout and 5xx are transient (the caller's retry
 * machinery retries them). Neither the secret nor a token appears in any message.
 */
import * as oauth from 'oauth4webapi';
import { TransientError, UserError } from '../errors.js';

export const DEFAULT_OMS_TOKEN_URL = 'https://auth.cern.ch/auth/realms/cern/api-access/token';
export const DEFAULT_OMS_AUDIENCE = 'cmsoms-prod';

export interface OmsCredentials {
  clientId: string;
  clientSecret: string;
  /** Default cmsoms-prod. */
  audience?: string | undefined;
  /** Default {@link DEFAULT_OMS_TOKEN_URL}. */
  tokenUrl?: string | undefined;
}

interface Cached {
  token: string;
  /** When to renew (ms since epoch); Infinity without `expires_in` (kept until OMS refuses it). */
  renewAt: number;
}

const FIX_CLIENT = 'check RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET';

export class OmsTokenProvider {
  readonly tokenUrl: string;
  readonly audience: string;
  readonly clientId: string;
  /** Token requests made (tests, benchmarks). */
  readonly stats = { tokenRequests: 0 };
  private readonly as: oauth.AuthorizationServer;
  private readonly auth: oauth.ClientAuth;
  private readonly secret: string;
  private cached: Cached | undefined;
  private inFlight: Promise<Cached> | undefined;

  constructor(
    creds: OmsCredentials,
    private readonly timeoutMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.tokenUrl = tokenEndpoint(creds.tokenUrl ?? DEFAULT_OMS_TOKEN_URL);
    this.audience = creds.audience ?? DEFAULT_OMS_AUDIENCE;
    this.clientId = creds.clientId;
    this.secret = creds.clientSecret;
    this.as = { issuer: new URL(this.tokenUrl).origin, token_endpoint: this.tokenUrl };
    this.auth = oauth.ClientSecretPost(creds.clientSecret);
    // the secret must not show up when the object is printed or serialized
    Object.defineProperty(this, 'secret', { enumerable: false });
    Object.defineProperty(this, 'auth', { enumerable: false });
  }

  /** A token valid for a while yet (cached, or fetched). */
  async token(): Promise<string> {
    const c = this.cached;
    if (c && this.now() < c.renewAt) return c.token;
    return (await this.fetchShared()).token;
  }

  /** A token other than `stale` (OMS refused it): a new one, unless another caller already renewed it. */
  async renew(stale: string): Promise<string> {
    if (this.cached && this.cached.token !== stale) return this.cached.token;
    if (this.cached?.token === stale) this.cached = undefined;
    return (await this.fetchShared()).token;
  }

  /** Removes the secret and any token from a text (defence in depth for server-provided text). */
  scrub(text: string): string {
    let out = text.split(this.secret).join('***');
    if (this.cached) out = out.split(this.cached.token).join('***');
    return out;
  }

  toJSON(): Record<string, string> {
    return { tokenUrl: this.tokenUrl, audience: this.audience, clientId: this.clientId };
  }

  private fetchShared(): Promise<Cached> {
    this.inFlight ??= this.fetchToken().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchToken(): Promise<Cached> {
    this.stats.tokenRequests++;
    const t0 = this.now();
    let res: oauth.TokenEndpointResponse;
    try {
      const response = await oauth.clientCredentialsGrantRequest(
        this.as,
        { client_id: this.clientId },
        this.auth,
        { audience: this.audience },
        {
          signal: AbortSignal.timeout(this.timeoutMs),
          [oauth.allowInsecureRequests]: this.tokenUrl.startsWith('http:'),
        },
      );
      res = await oauth.processClientCredentialsResponse(this.as, { client_id: this.clientId }, response);
    } catch (err) {
      throw this.tokenError(err);
    }
    const life = typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in * 1000 : undefined;
    const renewAt = life === undefined ? Infinity : t0 + life - Math.min(30_000, life / 4);
    this.cached = { token: res.access_token, renewAt };
    return this.cached;
  }

  /** The runctrl error for a failed token request (see the module comment). */
  private tokenError(err: unknown): Error {
    const where = `the OMS token endpoint ${this.tokenUrl}`;
    if (err instanceof oauth.ResponseBodyError || err instanceof oauth.WWWAuthenticateChallengeError) {
      const { error, description } = oauthErrorOf(err);
      const said = this.scrub(`${err.status} ${error}${description ? `: ${description}` : ''}`);
      if (err.status >= 500) return new TransientError(`${where} answered ${said}`);
      if (/audience/i.test(description) || error === 'invalid_target') {
        return new UserError(
          `${where} does not know the audience '${this.audience}' (${said}): set RUNCTRL_OMS_AUDIENCE (cmsoms-prod for the production OMS)`,
        );
      }
      if (error === 'invalid_client' || error === 'unauthorized_client' || err.status === 401) {
        return new UserError(`${where} refused client '${this.clientId}' (${said}): ${FIX_CLIENT}`);
      }
      return new UserError(`${where} refused the token request (${said}): ${FIX_CLIENT}`);
    }
    if (err instanceof oauth.OperationProcessingError && err.cause instanceof Response) {
      const status = err.cause.status;
      if (status >= 500) return new TransientError(`${where} answered ${status}`);
      return new UserError(`${where} answered ${status}: check RUNCTRL_OMS_TOKEN_URL`);
    }
    if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      return new TransientError(`${where} did not answer within ${this.timeoutMs} ms`);
    }
    if (err instanceof TypeError && !(err instanceof oauth.OperationProcessingError)) {
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const code =
        typeof cause?.code === 'string'
          ? cause.code
          : typeof cause?.message === 'string'
            ? cause.message
            : err.message;
      return new TransientError(
        `cannot reach ${where} (${this.scrub(code)}): check the network and RUNCTRL_OMS_TOKEN_URL`,
      );
    }
    return new UserError(
      `${where} did not answer with an access token: check RUNCTRL_OMS_TOKEN_URL (expected …/auth/realms/cern/api-access/token)`,
    );
  }
}

function oauthErrorOf(err: oauth.ResponseBodyError | oauth.WWWAuthenticateChallengeError): {
  error: string;
  description: string;
} {
  if (err instanceof oauth.ResponseBodyError) {
    return {
      error: err.error,
      description: (err.error_description ?? '').replace(/\s+/g, ' ').slice(0, 200),
    };
  }
  const p = err.cause[0]?.parameters ?? {};
  return { error: p.error ?? 'unauthorized', description: (p.error_description ?? '').slice(0, 200) };
}

/** Checks a token endpoint URL; throws a UserError for an unusable one. */
export function tokenEndpoint(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`invalid RUNCTRL_OMS_TOKEN_URL '${url}': give it as https://host/…/token`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UserError('invalid RUNCTRL_OMS_TOKEN_URL: only http and https are supported');
  }
  if (u.username || u.password) {
    throw new UserError('put no credentials in RUNCTRL_OMS_TOKEN_URL: set RUNCTRL_OMS_CLIENT_SECRET instead');
  }
  return u.href;
}
