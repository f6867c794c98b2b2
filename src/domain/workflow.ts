/** Workflow definitions (declared in campaigns/ files): what runs, where, after what. Pure. */
import { UserError } from '../errors.js';
import type { Resources } from '../backends/types.js';
import { positiveNumber } from './fields.js';
import { checkName } from './names.js';
import { parsePriority } from './priority.js';
import { parseRetry, type RetryPolicy } from './retry.js';

export type Granularity = { kind: 'run' } | { kind: 'era' } | { kind: 'every'; n: number };

export interface WorkflowSpec {
  name: string;
  /** Command template with placeholders {run} {fill} {era} {campaign} {workflow} {attempt} {outdir} {inputs} {runs}. */
  command?: string;
  /** Path of a module exporting a handler (instead of the command template), relative to the campaign file. */
  handler?: string;
  backend: string;
  resources: Resources;
  dependsOn: string[];
  maxRetries: number;
  granularity: Granularity;
  /**
   * What happens to a done pair whose inputs changed (a parent re-ran): "mark" (default) shows it stale;
   * "reprocess" makes the loop reprocess it once its parents are done again. Absent: "mark".
   */
  onInputChange?: OnInputChange;
  /** Priority of its units (higher first); when absent, the campaign's (see priority.ts). */
  priority?: number;
  /** How failed attempts are retried by failure class (docs/retry-policy.md); absent: as max_retries says. */
  retry?: RetryPolicy;
}

export const ON_INPUT_CHANGE = ['mark', 'reprocess'] as const;
export type OnInputChange = (typeof ON_INPUT_CHANGE)[number];

export const BACKENDS = ['local', 'slurm', 'sge', 'htcondor', 'lsf', 'pbs'] as const;
export const PLACEHOLDERS = [
  'run',
  'fill',
  'era',
  'campaign',
  'workflow',
  'attempt',
  'outdir',
  'inputs',
  'runs',
  'group',
];

function parseResources(raw: unknown, where: string): Resources {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${where}: 'resources' must be an object`);
  const o = raw as Record<string, unknown>;
  const known = ['cpus', 'memory_mb', 'walltime_min', 'queue', 'account', 'extra'];
  for (const k of Object.keys(o)) {
    if (!known.includes(k))
      throw new UserError(`${where}: unknown resource '${k}' (known: ${known.join(', ')})`);
  }
  const r: Resources = {};
  const cpus = positiveNumber(o, 'cpus', where);
  if (cpus !== undefined) r.cpus = cpus;
  const mem = positiveNumber(o, 'memory_mb', where);
  if (mem !== undefined) r.memoryMb = mem;
  const wall = positiveNumber(o, 'walltime_min', where);
  if (wall !== undefined) r.walltimeMin = wall;
  for (const k of ['queue', 'account'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw new UserError(`${where}: '${k}' must be a non-empty string`);
    r[k] = v;
  }
  if (o.extra !== undefined) {
    if (!Array.isArray(o.extra) || o.extra.some((x) => typeof x !== 'string')) {
      throw new UserError(`${where}: 'extra' must be a list of strings`);
    }
    r.extra = o.extra as string[];
  }
  return r;
}

function parseGranularity(raw: unknown, where: string): Granularity {
  if (raw === undefined || raw === 'run') return { kind: 'run' };
  if (raw === 'era') return { kind: 'era' };
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const every = (raw as Record<string, unknown>).every;
    if (typeof every === 'number' && Number.isInteger(every) && every >= 1)
      return { kind: 'every', n: every };
  }
  throw new UserError(`${where}: 'granularity' must be "run", "era" or {"every": N}`);
}

function parseOnInputChange(raw: unknown, deps: readonly string[], where: string): OnInputChange | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !(ON_INPUT_CHANGE as readonly string[]).includes(raw)) {
    throw new UserError(
      `${where}: 'on_input_change' must be ${ON_INPUT_CHANGE.map((v) => `"${v}"`).join(' or ')} (got ${JSON.stringify(raw)})`,
    );
  }
  if (raw === 'reprocess' && deps.length === 0) {
    throw new UserError(
      `${where}: 'on_input_change' "reprocess" needs 'depends_on' (a workflow without dependencies has no inputs to change)`,
    );
  }
  return raw as OnInputChange;
}

/** Validates one workflow definition from a campaign file. */
export function parseWorkflow(name: string, raw: unknown, where: string): WorkflowSpec {
  checkName('workflow', name);
  const at = `${where}: workflow '${name}'`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${at} must be an object`);
  const o = raw as Record<string, unknown>;
  const known = [
    'command',
    'handler',
    'backend',
    'resources',
    'depends_on',
    'max_retries',
    'granularity',
    'on_input_change',
    'description',
    'priority',
    'retry',
  ];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new UserError(`${at}: unknown key '${k}' (known: ${known.join(', ')})`);
  }
  const command = o.command;
  const handler = o.handler;
  if (command !== undefined && (typeof command !== 'string' || command.trim() === '')) {
    throw new UserError(`${at}: 'command' must be a non-empty string`);
  }
  if (handler !== undefined && (typeof handler !== 'string' || handler.trim() === '')) {
    throw new UserError(`${at}: 'handler' must be a module path`);
  }
  if ((command === undefined) === (handler === undefined)) {
    throw new UserError(`${at}: give exactly one of 'command' (a command template) or 'handler' (a module)`);
  }
  if (typeof command === 'string') {
    for (const m of command.matchAll(/\{([A-Za-z_]+)\}/g)) {
      if (!PLACEHOLDERS.includes(m[1] ?? '')) {
        throw new UserError(
          `${at}: unknown placeholder {${m[1]}} in the command (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`,
        );
      }
    }
  }
  const backend = o.backend ?? 'local';
  if (typeof backend !== 'string' || !(BACKENDS as readonly string[]).includes(backend)) {
    throw new UserError(`${at}: unknown backend '${String(backend)}' (known: ${BACKENDS.join(', ')})`);
  }
  const deps = o.depends_on ?? [];
  if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) {
    throw new UserError(`${at}: 'depends_on' must be a list of workflow names`);
  }
  const maxRetries = o.max_retries ?? 2;
  if (typeof maxRetries !== 'number' || !Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 99) {
    throw new UserError(`${at}: 'max_retries' must be an integer from 0 to 99`);
  }
  const spec: WorkflowSpec = {
    name,
    backend,
    resources: parseResources(o.resources, at),
    dependsOn: deps as string[],
    maxRetries,
    granularity: parseGranularity(o.granularity, at),
  };
  const onChange = parseOnInputChange(o.on_input_change, spec.dependsOn, at);
  if (onChange !== undefined) spec.onInputChange = onChange;
  const priority = parsePriority(o.priority, at);
  if (priority !== undefined) spec.priority = priority;
  const retry = parseRetry(o.retry, at, spec.resources);
  if (retry) spec.retry = retry;
  if (typeof command === 'string') spec.command = command;
  if (typeof handler === 'string') spec.handler = handler;
  return spec;
}

/** Rejects unknown dependencies and cycles; the message spells out the cycle. */
export function checkDependencies(specs: readonly WorkflowSpec[], where: string): void {
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const s of specs) {
    for (const d of s.dependsOn) {
      if (!byName.has(d))
        throw new UserError(`${where}: workflow '${s.name}' depends on unknown workflow '${d}'`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    const st = state.get(n);
    if (st === 'done') return;
    if (st === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(n)), n];
      throw new UserError(
        `${where}: dependency cycle ${cycle.join(' -> ')}: remove one of these depends_on entries`,
      );
    }
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of byName.get(n)?.dependsOn ?? []) visit(d);
    stack.pop();
    state.set(n, 'done');
  };
  for (const s of specs) visit(s.name);
}

/** Workflows in dependency order (dependencies first). */
export function topoOrder(specs: readonly WorkflowSpec[]): WorkflowSpec[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: WorkflowSpec[] = [];
  const seen = new Set<string>();
  const visit = (s: WorkflowSpec): void => {
    if (seen.has(s.name)) return;
    seen.add(s.name);
    for (const d of s.dependsOn) {
      const ds = byName.get(d);
      if (ds) visit(ds);
    }
    out.push(s);
  };
  for (const s of [...specs].sort((a, b) => a.name.localeCompare(b.name))) visit(s);
  return out;
}
