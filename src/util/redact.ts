/**
 * The secrets this process knows, and their removal from text it shows to others (the dashboard's answers).
 *
 * Gathered from the resolved config (InfluxDB password and token, the OMS client secret, token and cookie,
 * webhook URLs), from the environment (any variable whose name says it holds a secret: PASSWORD, PWD, TOKEN,
 * SECRET, COOKIE, WEBHOOK, API_KEY) and from the serve tokens. Each secret is replaced by `***` as it is, as
 * JSON would escape it and as a URL would encode it. Secrets shorter than {@link MIN_SECRET} characters are
 * not looked for (they would blank out ordinary text); no credential that short is accepted for serving.
 */
import type { Config } from '../config.js';

export const MIN_SECRET = 4;
export const MASK = '***';

/** Names of environment variables that hold secrets (PWD and OLDPWD are the shell's directories). */
const SECRET_NAME = /PASSWORD|PASSWD|_PWD$|TOKEN|SECRET|COOKIE|WEBHOOK|API_?KEY|PRIVATE_KEY/i;

export function secretEnvNames(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env).filter((n) => SECRET_NAME.test(n) && n !== 'PWD' && n !== 'OLDPWD');
}

/** Every secret of the config and of the environment. */
export function knownSecrets(config: Config | undefined, env: NodeJS.ProcessEnv): string[] {
  const out: (string | undefined)[] = [];
  if (config) {
    out.push(config.password, config.token, ...config.webhooks);
    for (const n of ['RUNCTRL_OMS_CLIENT_SECRET', 'RUNCTRL_OMS_TOKEN', 'RUNCTRL_OMS_COOKIE'])
      out.push(config.oms[n]);
    // a webhook's secret is its path (Slack, Mattermost, Teams): hide it on its own too
    for (const w of config.webhooks) out.push(webhookPath(w));
  }
  for (const n of secretEnvNames(env)) out.push(env[n]);
  return out.filter((s): s is string => s !== undefined);
}

function webhookPath(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.pathname.length > 1 ? u.pathname + u.search : undefined;
  } catch {
    return undefined;
  }
}

export class Redactor {
  /** Longest first, so that a secret containing another is masked whole. */
  private readonly needles: string[];

  constructor(secrets: Iterable<string>) {
    const set = new Set<string>();
    for (const s of secrets) {
      if (s.length < MIN_SECRET) continue;
      set.add(s);
      set.add(JSON.stringify(s).slice(1, -1));
      set.add(encodeURIComponent(s));
    }
    this.needles = [...set].filter((s) => s.length >= MIN_SECRET).sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.needles.length;
  }

  text(s: string): string {
    let out = s;
    for (const n of this.needles) if (out.includes(n)) out = out.split(n).join(MASK);
    return out;
  }

  /** A JSON-like value with every string (keys too) redacted; other values as they are. */
  value(v: unknown): unknown {
    if (this.needles.length === 0) return v;
    return this.walk(v);
  }

  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown> & { toJSON?: () => unknown };
      if (typeof o.toJSON === 'function') return this.walk(o.toJSON());
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) out[this.text(k)] = this.walk(x);
      return out;
    }
    return v;
  }
}
