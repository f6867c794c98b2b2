/**
 * Operator actions of the dashboard (off unless `runctrl serve --allow-actions`): reprocess, reset, lock and
 * unlock through the same use cases as the CLI. A POST needs a token in the `X-Runctrl-Token` header,
 * compared in constant time; each action is logged with the token's name and what it did.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Backend } from '../backends/types.js';
import type { Ctx } from '../core/context.js';
import { lock, reprocess, reset, unlock } from '../core/operations.js';
import { checkName } from '../domain/names.js';
import { UserError } from '../errors.js';

export interface ActionOptions {
  ctx: Ctx;
  backend: (name: string) => Backend;
  /** Token name → secret. */
  tokens: Map<string, string>;
}

/** `RUNCTRL_SERVE_TOKEN`: `secret`, or `name:secret[,name:secret…]`. */
export function parseTokens(v: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of v.split(',').filter((p) => p !== '')) {
    const i = part.indexOf(':');
    if (i > 0) out.set(part.slice(0, i), part.slice(i + 1));
    else out.set('operator', part);
  }
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

interface Body {
  campaign: string;
  workflow: string;
  runs?: number[];
  mode?: 'failed' | 'all';
  fromRun?: number;
  reason?: string;
  withDependents?: boolean;
}

async function readBody(req: http.IncomingMessage): Promise<Body> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new UserError('request body too large (64 kB at most)');
    chunks.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new UserError('request body must be JSON');
  }
  const b = v as Partial<Body>;
  if (typeof b !== 'object' || b === null || typeof b.campaign !== 'string' || typeof b.workflow !== 'string')
    throw new UserError('request body needs "campaign" and "workflow"');
  checkName('campaign', b.campaign);
  checkName('workflow', b.workflow);
  if (b.runs !== undefined && (!Array.isArray(b.runs) || !b.runs.every((r) => Number.isInteger(r) && r >= 0)))
    throw new UserError('"runs" must be a list of run numbers');
  if (b.withDependents !== undefined && typeof b.withDependents !== 'boolean')
    throw new UserError('"withDependents" must be true or false');
  return b as Body;
}

function deny(res: http.ServerResponse, why: string): void {
  res.writeHead(403, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error: why }));
}

export async function handleAction(
  o: ActionOptions | undefined,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  action: string,
  log: (line: string) => void,
): Promise<void> {
  if (!o) return deny(res, 'read-only dashboard: start runctrl serve with --allow-actions');
  const header = req.headers['x-runctrl-token'];
  const who = typeof header === 'string' ? tokenName(o.tokens, header) : undefined;
  if (!who) return deny(res, 'missing or wrong X-Runctrl-Token');
  const b = await readBody(req);
  const runs = b.runs ?? [];
  const selector = { runs };
  let result: unknown;
  if (action === 'reprocess')
    result = await reprocess(o.ctx, {
      campaign: b.campaign,
      workflow: b.workflow,
      selector,
      mode: b.mode ?? 'failed',
      withDependents: b.withDependents ?? false,
    });
  else if (action === 'reset')
    result = await reset(o.ctx, { campaign: b.campaign, workflow: b.workflow, selector, backend: o.backend });
  else if (action === 'lock')
    result = await lock(o.ctx, {
      campaign: b.campaign,
      workflow: b.workflow,
      fromRun: b.fromRun ?? runs[0] ?? 0,
      reason: `${b.reason ?? ''} (by ${who} via dashboard)`,
    });
  else if (action === 'unlock') result = await unlock(o.ctx, { campaign: b.campaign, workflow: b.workflow });
  else throw new UserError(`unknown action '${action.slice(0, 40)}' (reprocess, reset, lock, unlock)`);
  log(
    `runctrl serve: action ${action} by ${who}: campaign ${b.campaign} workflow ${b.workflow} runs ${runs.join(',') || '-'}`,
  );
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(result));
}
