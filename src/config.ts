/**
 * Settings and their precedence: command-line flags > environment > `.env` file > defaults.
 *
 * | setting      | flag              | environment                                        | default                   |
 * |--------------|-------------------|----------------------------------------------------|---------------------------|
 * | influxUrl    | --influx-url      | RUNCTRL_INFLUXDB_URL                               | http://127.0.0.1:8086     |
 * | db           | --db              | RUNCTRL_DB                                         | (required)                |
 * | user         | --influx-user     | RUNCTRL_INFLUXDB_USER, ECAL_INFLUXDB_USER          | (none)                    |
 * | password     | (never a flag)    | RUNCTRL_INFLUXDB_PASSWORD, ECAL_INFLUXDB_PWD       | (none)                    |
 * | token        | (never a flag)    | RUNCTRL_INFLUXDB_TOKEN                             | (none)                    |
 * | timeoutMs    | --influx-timeout  | RUNCTRL_INFLUXDB_TIMEOUT (ms)                      | 30000                     |
 * | runSource    | --run-source      | RUNCTRL_RUN_SOURCE                                 | bundled sample registry   |
 * | stateDir     | --state-dir       | RUNCTRL_STATE_DIR                                  | $XDG_STATE_HOME/runctrl   |
 *                                                  (~/.local/state/runctrl when XDG_STATE_HOME is unset)
 * | webhooks     | (no flag yet)     | RUNCTRL_WEBHOOKS (comma-separated)                 | (none)                    |
 * | oms          | (never a flag)    | RUNCTRL_OMS_* (OMS_SETTINGS; src/sources/index.ts) | (none)                    |
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { UserError } from './errors.js';

export interface Config {
  influxUrl: string;
  db: string | undefined;
  user: string | undefined;
  password: string | undefined;
  token: string | undefined;
  timeoutMs: number;
  runSource: string;
  stateDir: string;
  webhooks: string[];
  /** The RUNCTRL_OMS_* settings that are set (environment > .env), for the OMS run source. */
  oms: Record<string, string>;
  verbose: boolean;
}

/** OMS run-source settings; the secret ones are never printed. */
export const OMS_SETTINGS = [
  'RUNCTRL_OMS_CLIENT_ID',
  'RUNCTRL_OMS_CLIENT_SECRET',
  'RUNCTRL_OMS_AUDIENCE',
  'RUNCTRL_OMS_TOKEN_URL',
  'RUNCTRL_OMS_TOKEN',
  'RUNCTRL_OMS_COOKIE',
  'RUNCTRL_OMS_ERAS',
] as const;
const OMS_SECRETS = new Set(['RUNCTRL_OMS_CLIENT_SECRET', 'RUNCTRL_OMS_TOKEN', 'RUNCTRL_OMS_COOKIE']);

export interface ConfigFlags {
  influxUrl?: string | undefined;
  db?: string | undefined;
  influxUser?: string | undefined;
  influxTimeout?: number | undefined;
  runSource?: string | undefined;
  stateDir?: string | undefined;
  webhook?: string[] | undefined;
  verbose?: boolean | undefined;
}

/** The repository root (where `data/` and `campaigns/` live), found from this file's location. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SAMPLE_REGISTRY = path.join(PROJECT_ROOT, 'data', 'runs', 'sample-registry.json');

/**
 * The default state directory, whatever the working directory (XDG base directories): $XDG_STATE_HOME/runctrl
 * when that is an absolute path, else ~/.local/state/runctrl.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'runctrl');
  return path.join(
    env.HOME && path.isAbsolute(env.HOME) ? env.HOME : os.homedir(),
    '.local',
    'state',
    'runctrl',
  );
}

function readDotenv(cwd: string): Record<string, string> {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return {};
  return dotenv.parse(readFileSync(file));
}

export function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Config {
  const dot = readDotenv(cwd);
  const pick = (...names: string[]): string | undefined => {
    for (const n of names) {
      const v = env[n];
      if (v !== undefined && v !== '') return v;
    }
    for (const n of names) {
      const v = dot[n];
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const timeoutRaw = flags.influxTimeout ?? pick('RUNCTRL_INFLUXDB_TIMEOUT');
  const timeoutMs = Number(timeoutRaw ?? 30_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new UserError(
      `invalid InfluxDB timeout '${String(timeoutRaw)}': give a positive number of milliseconds`,
    );
  }
  const webhooks =
    flags.webhook && flags.webhook.length > 0
      ? flags.webhook
      : (pick('RUNCTRL_WEBHOOKS') ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const influxUrl = (flags.influxUrl ?? pick('RUNCTRL_INFLUXDB_URL') ?? 'http://127.0.0.1:8086').replace(
    /\/+$/,
    '',
  );
  let parsed: URL;
  try {
    parsed = new URL(influxUrl);
  } catch {
    const shown = influxUrl.replace(/\/\/[^/@]*@/, '//***@');
    throw new UserError(`invalid InfluxDB URL '${shown}': give it as http(s)://host:port`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    const shown = influxUrl.replace(/\/\/[^/@]*@/, '//***@');
    throw new UserError(
      `invalid InfluxDB URL '${shown}': only http:// and https:// are supported (give it as http(s)://host:port)`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new UserError(
      'put no credentials in the InfluxDB URL: set RUNCTRL_INFLUXDB_USER and RUNCTRL_INFLUXDB_PASSWORD instead',
    );
  }
  return {
    influxUrl,
    db: flags.db ?? pick('RUNCTRL_DB'),
    user: flags.influxUser ?? pick('RUNCTRL_INFLUXDB_USER', 'ECAL_INFLUXDB_USER'),
    password: pick('RUNCTRL_INFLUXDB_PASSWORD', 'ECAL_INFLUXDB_PWD'),
    token: pick('RUNCTRL_INFLUXDB_TOKEN'),
    timeoutMs,
    runSource: flags.runSource ?? pick('RUNCTRL_RUN_SOURCE') ?? SAMPLE_REGISTRY,
    stateDir: path.resolve(cwd, flags.stateDir ?? pick('RUNCTRL_STATE_DIR') ?? defaultStateDir(env)),
    webhooks,
    oms: Object.fromEntries(
      OMS_SETTINGS.flatMap((n) => {
        const v = pick(n);
        return v === undefined ? [] : [[n, v]];
      }),
    ),
    verbose: flags.verbose ?? false,
  };
}

/** The config as it may be printed: secrets replaced. */
export function redactedConfig(c: Config): Record<string, unknown> {
  return {
    ...c,
    password: c.password === undefined ? undefined : '***',
    token: c.token === undefined ? undefined : '***',
    // incoming-webhook URLs carry their secret in the path
    webhooks: c.webhooks.map(() => '***'),
    oms: Object.fromEntries(Object.entries(c.oms).map(([k, v]) => [k, OMS_SECRETS.has(k) ? '***' : v])),
  };
}
