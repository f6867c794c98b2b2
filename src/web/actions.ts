/**
 * Operator actions of the dashboard (off unless `runctrl serve --allow-actions`): reprocess, reset, lock and
 * unlock through the same use cases as the CLI, their bodies checked by the same rules as the CLI's flags
 * (src/domain/operation-args.ts). A POST needs a token in the `X-Runctrl-Token` header, compared in constant
 * time; each action is logged with the token's name and what it did, and a lock records that name as `by`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Backend } from '../backends/types.js';
import type { Ctx } from '../core/context.js';
import { lock, reprocess, reset, unlock } from '../core/operations.js';
import { checkName } from '../domain/names.js';
import { fromRunArg, modeArg, reasonArg, runsArg, switchArg } from '../domain/operation-args.js';
import { UserError } from '../errors.js';
import { HttpError, MAX_BODY } from './guard.js';
import type { Answer } from './listen.js';

export interface ActionOptions {
  ctx: Ctx;
  backend: (name: string) => Backend;
  /** Token name → secret. */
  tokens: Map<string, string>;
}

/** Shortest serve token accepted (a guessable token is no lock). */
export const MIN_TOKEN = 16;

/**
 * `RUNCTRL_SERVE_TOKEN`: `secret`, or `name:secret[,name:secret…]`. A secret shorter than MIN_TOKEN
 * characters (an empty one too) is refused, as is a name given twice.
 */
export function parseTokens(v: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of v.split(',').filter((p) => p.trim() !== '')) {
    const i = part.indexOf(':');
    const [name, secret] = i > 0 ? [part.slice(0, i), part.slice(i + 1)] : ['operator', part];
    if (secret.length < MIN_TOKEN)
      throw new UserError(
        `RUNCTRL_SERVE_TOKEN: the token${i > 0 ? ` of '${name}'` : ''} has ${secret.length} characters, ${MIN_TOKEN} at least are needed (e.g. openssl rand -base64 24)`,
      );
    if (out.has(name)) throw new UserError(`RUNCTRL_SERVE_TOKEN: the name '${name}' is given twice`);
    out.set(name, secret);
  }
  if (out.size === 0)
    throw new UserError('RUNCTRL_SERVE_TOKEN holds no token: give name:secret[,name:secret]');
  return out;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The name of the token presented, compared in constant time against every known one. */
export function tokenName(tokens: Map<string, string>, presented: string): string | undefined {
  const d = digest(presented);
  let found: string | undefined;
  for (const [name, secret] of tokens)
    if (timingSafeEqual(d, digest(secret)) && secret !== '') found ??= name;
  return found;
}

/** An action's body, checked. */
interface Body {
  campaign: string;
  workflow: string;
  runs: number[];
  raw: Record<string, unknown>;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, `request body too large (${MAX_BODY / 1024} kB at most)`);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body too large (${MAX_BODY / 1024} kB at most)`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new UserError('request body must be JSON');
  }
}

async function readBody(req: http.IncomingMessage, action: string): Promise<Body> {
  const v = await readJson(req);
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new UserError('request body must be a JSON object');
  const b = v as Record<string, unknown>;
  if (typeof b.campaign !== 'string' || typeof b.workflow !== 'string')
    throw new UserError('request body needs "campaign" and "workflow"');
  checkName('campaign', b.campaign);
  checkName('workflow', b.workflow);
  const needsRuns = action === 'reprocess' || action === 'reset';
  const runs = needsRuns || b.runs !== undefined ? runsArg(b.runs, '"runs"') : [];
  return { campaign: b.campaign, workflow: b.workflow, runs, raw: b };
}

const ACTIONS = ['reprocess', 'reset', 'lock', 'unlock'];

function run(o: ActionOptions, action: string, b: Body, who: string): Promise<unknown> {
  const target = { campaign: b.campaign, workflow: b.workflow };
  const selector = { runs: b.runs };
  if (action === 'reprocess')
    return reprocess(o.ctx, {
      ...target,
      selector,
      mode: modeArg(b.raw.mode, '"mode"'),
      withDependents: switchArg(b.raw.withDependents, '"withDependents"'),
    });
  if (action === 'reset') return reset(o.ctx, { ...target, selector, backend: o.backend });
  const by = `${who}@dashboard`;
  if (action === 'lock')
    return lock(o.ctx, {
      ...target,
      fromRun: fromRunArg(b.raw.fromRun, '"fromRun"'),
      reason: reasonArg(b.raw.reason, '"reason"'),
      by,
    });
  return unlock(o.ctx, { ...target, by });
}

export async function handleAction(
  o: ActionOptions | undefined,
  req: http.IncomingMessage,
  answer: Answer,
  action: string,
  log: (line: string) => void,
): Promise<void> {
  const deny = (why: string): void => answer.json(403, { error: why }, { Connection: 'close' });
  if (!o) return deny('read-only dashboard: start runctrl serve with --allow-actions');
  const header = req.headers['x-runctrl-token'];
  const who = typeof header === 'string' ? tokenName(o.tokens, header) : undefined;
  if (!who) return deny('missing or wrong X-Runctrl-Token');
  if (!ACTIONS.includes(action))
    throw new HttpError(404, `unknown action '${action.slice(0, 40)}' (${ACTIONS.join(', ')})`);
  const b = await readBody(req, action);
  const result = await run(o, action, b, who);
  log(
    `runctrl serve: action ${action} by ${who}: campaign ${b.campaign} workflow ${b.workflow} runs ${b.runs.join(',') || '-'}`,
  );
  answer.json(200, result);
}
