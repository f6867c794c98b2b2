/**
 * Opens the run source named by a spec (the `--run-source` flag / `RUNCTRL_RUN_SOURCE`):
 *
 * - a file path ending in `.json` or `.csv` (relative to the working directory): a run registry
 *   (src/sources/registry.ts);
 * - `oms:https://…`, or a plain `http(s)://…` URL: the CMS OMS API (src/sources/oms.ts); `oms` or `oms:`
 *   alone means https://cmsoms.cern.ch/agg/api/v1.
 *
 * OMS settings not passed in the options are read from the environment:
 * - RUNCTRL_OMS_CLIENT_ID, RUNCTRL_OMS_CLIENT_SECRET  OAuth2 client credentials (the secret never printed)
 * - RUNCTRL_OMS_AUDIENCE   token audience (default cmsoms-prod)
 * - RUNCTRL_OMS_TOKEN_URL  token endpoint (default CERN's api-access endpoint)
 * - RUNCTRL_OMS_TOKEN   static bearer token (never printed)
 * - RUNCTRL_OMS_COOKIE  Cookie header, e.g. an SSO cookie (never printed)
 * - RUNCTRL_OMS_ERAS    configured eras, comma-separated: `Run2024A=378000-378980,Run2024B=378981-379410`,
 *                       `Run2024I=386406-` (open end) or plain names
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { BackoffOptions } from '../util/retry.js';
import { DEFAULT_OMS_URL, OmsSource, type OmsEra } from './oms.js';
import type { OmsCredentials } from './oms-auth.js';
import { registryFormatOf, RegistrySource } from './registry.js';
import type { RunSource } from './source.js';

export type { RunQuery, RunSource } from './source.js';
export { OmsSource, type OmsEra, type OmsOptions } from './oms.js';
export { RegistrySource } from './registry.js';
export { OmsTokenProvider, type OmsCredentials } from './oms-auth.js';

export interface OpenRunSourceOptions {
  /** Base of relative file paths (default: process.cwd()). */
  cwd?: string;
  /** Where RUNCTRL_OMS_* are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** OMS bearer token (default: RUNCTRL_OMS_TOKEN). */
  omsToken?: string;
  /** OMS Cookie header (default: RUNCTRL_OMS_COOKIE). */
  omsCookie?: string;
  /** OMS client credentials (default: RUNCTRL_OMS_CLIENT_ID/SECRET/AUDIENCE/TOKEN_URL). */
  omsCredentials?: OmsCredentials;
  /** OMS eras (default: RUNCTRL_OMS_ERAS). */
  omsEras?: (string | OmsEra)[];
  /** OMS per-request timeout in ms. */
  timeoutMs?: number;
  backoff?: BackoffOptions;
  pageSize?: number;
}

const HOW_TO_FIX =
  'give an existing .json or .csv run registry, or an OMS URL (oms:https://…), with --run-source or RUNCTRL_RUN_SOURCE';

export function openRunSource(spec: string, opts: OpenRunSourceOptions = {}): RunSource {
  const s = spec.trim();
  if (s === '') throw new UserError(`no run source given: ${HOW_TO_FIX}`);
  const oms = /^oms(?::(.*))?$/i.exec(s);
  if (oms || /^https?:\/\//i.test(s)) {
    const url = (oms ? (oms[1] ?? '').trim() : s) || DEFAULT_OMS_URL;
    if (!/^https?:\/\//i.test(url)) {
      throw new UserError(`invalid OMS run source '${spec}': write it as oms:https://host/agg/api/v1`);
    }
    const env = opts.env ?? process.env;
    const nonEmpty = (v: string | undefined): string | undefined =>
      v === undefined || v === '' ? undefined : v;
    const erasEnv = nonEmpty(env.RUNCTRL_OMS_ERAS);
    return new OmsSource({
      url,
      token: opts.omsToken ?? nonEmpty(env.RUNCTRL_OMS_TOKEN),
      cookie: opts.omsCookie ?? nonEmpty(env.RUNCTRL_OMS_COOKIE),
      credentials: opts.omsCredentials ?? omsCredentialsFrom((n) => nonEmpty(env[n])),
      eras: opts.omsEras ?? (erasEnv === undefined ? undefined : parseEraList(erasEnv, 'RUNCTRL_OMS_ERAS')),
      timeoutMs: opts.timeoutMs,
      backoff: opts.backoff,
      pageSize: opts.pageSize,
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    throw new UserError(`unsupported run source '${spec}': ${HOW_TO_FIX}`);
  }
  const file = path.resolve(opts.cwd ?? process.cwd(), s);
  if (!existsSync(file)) {
    throw new UserError(`run source file '${s}' does not exist (looked at ${file}): ${HOW_TO_FIX}`);
  }
  if (statSync(file).isDirectory()) {
    throw new UserError(`run source '${s}' is a directory: ${HOW_TO_FIX}`);
  }
  return new RegistrySource(file, { format: registryFormatOf(s), displayName: s });
}

/** Client credentials from RUNCTRL_OMS_* settings; none without an id; a UserError for half a pair. */
export function omsCredentialsFrom(get: (name: string) => string | undefined): OmsCredentials | undefined {
  const clientId = get('RUNCTRL_OMS_CLIENT_ID');
  const clientSecret = get('RUNCTRL_OMS_CLIENT_SECRET');
  if (clientId === undefined && clientSecret === undefined) return undefined;
  if (clientId === undefined || clientSecret === undefined) {
    const missing = clientId === undefined ? 'RUNCTRL_OMS_CLIENT_ID' : 'RUNCTRL_OMS_CLIENT_SECRET';
    throw new UserError(
      `${missing} is not set: OMS client credentials need both RUNCTRL_OMS_CLIENT_ID and RUNCTRL_OMS_CLIENT_SECRET (environment or .env)`,
    );
  }
  return {
    clientId,
    clientSecret,
    audience: get('RUNCTRL_OMS_AUDIENCE'),
    tokenUrl: get('RUNCTRL_OMS_TOKEN_URL'),
  };
}

/** Parses `Name=first-last,Name=first-,Name` (see the module comment). */
export function parseEraList(text: string, where: string): OmsEra[] {
  return text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((item) => {
      const m = /^([^=\s]+)(?:\s*=\s*(\d+)\s*-\s*(\d*))?$/.exec(item);
      if (!m?.[1]) {
        throw new UserError(
          `${where}: cannot read era '${item}': write Name, or Name=first-last (e.g. Run2024C=379411-380250)`,
        );
      }
      if (m[2] === undefined) return { name: m[1] };
      const era: OmsEra = { name: m[1], firstRun: Number(m[2]) };
      if (m[3]) {
        era.lastRun = Number(m[3]);
        if (era.lastRun < (era.firstRun ?? 0))
          throw new UserError(`${where}: era '${item}' ends before it starts`);
      }
      return era;
    });
}
