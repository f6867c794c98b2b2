/**
 * Workflow handlers. A handler is the code that, for one workflow, selects the work units ready for it,
 * gives the command that processes a unit, and reads the unit's outputs when its job is done. The default
 * handler runs the workflow's command template; a workflow may name a module (`"handler": "./x.mjs"` in the
 * campaign file) whose default export implements the same interface.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { checkOutput, outputLines } from '../domain/outputs.js';
import type { WorkflowSpec } from '../domain/workflow.js';
import { UserError } from '../errors.js';
import { importModule } from '../util/import-module.js';

export interface UnitInfo {
  campaign: string;
  workflow: string;
  unit: string;
  runs: number[];
  attempt: number;
  era: string;
  fill: number;
  /** Outputs of the dependency workflows for the unit's runs, by workflow. */
  inputs: Record<string, string[]>;
  /** Directory for the unit's outputs (exists before the job starts). */
  outdir: string;
}

export interface FinishedUnit extends UnitInfo {
  /** Outputs the job reported itself (`runctrl job done --output …`) or wrote to $RUNCTRL_OUTPUT_FILE. */
  reported: string[];
}

export interface WorkflowHandler {
  /** Narrows the units ready this pass (e.g. to wait for enough statistics). Default: all. */
  select?(units: UnitInfo[]): UnitInfo[] | Promise<UnitInfo[]>;
  /** The shell command that processes one unit. */
  command(unit: UnitInfo): string | Promise<string>;
  /** Outputs to record for a finished unit (each one line). Default: what the job reported. */
  outputs?(unit: FinishedUnit): string[] | Promise<string[]>;
}

const SAFE = /^[A-Za-z0-9_.,:/=+@%-]+$/;

/** Single-quotes a value unless it is shell-safe; an empty value becomes '' so it stays one argument. */
function quote(v: string): string {
  return SAFE.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** The inputs as shell words, each quoted on its own; none is one empty word, so `--in {inputs}` stays valid. */
function inputWords(u: UnitInfo): string {
  const all = Object.values(u.inputs).flat();
  return all.length === 0 ? "''" : all.map(quote).join(' ');
}

/**
 * Fills a command template; values that are not shell-safe are single-quoted. `{inputs}` becomes one shell word
 * per input (an input may hold commas and spaces).
 */
export function renderCommand(template: string, u: UnitInfo): string {
  const values: Record<string, string> = {
    run: String(u.runs[0] ?? ''),
    runs: u.runs.join(','),
    fill: String(u.fill),
    era: u.era,
    campaign: u.campaign,
    workflow: u.workflow,
    attempt: String(u.attempt),
    outdir: u.outdir,
    group: u.unit,
  };
  return template.replace(/\{([A-Za-z_]+)\}/g, (m, k: string) => {
    if (k === 'inputs') return inputWords(u);
    const v = values[k];
    return v === undefined ? m : quote(v);
  });
}

export function templateHandler(spec: WorkflowSpec): WorkflowHandler {
  const template = spec.command ?? '';
  return { command: (u) => renderCommand(template, u) };
}

function isHandler(x: unknown): x is WorkflowHandler {
  return typeof x === 'object' && x !== null && typeof (x as { command?: unknown }).command === 'function';
}

const cache = new Map<string, WorkflowHandler>();

/** The handler of a workflow: its module's default export, or the command-template handler. */
export async function handlerFor(spec: WorkflowSpec): Promise<WorkflowHandler> {
  if (!spec.handler) return templateHandler(spec);
  const hit = cache.get(spec.handler);
  if (hit) return hit;
  let mod: { default?: unknown; handler?: unknown };
  try {
    mod = (await importModule(pathToFileURL(spec.handler).href)) as { default?: unknown; handler?: unknown };
  } catch (err) {
    throw new UserError(
      `cannot load the handler module of workflow '${spec.name}' (${spec.handler}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const h = mod.default ?? mod.handler;
  if (!isHandler(h)) {
    throw new UserError(
      `handler module ${spec.handler} of workflow '${spec.name}' must export (default) an object with a command(unit) function`,
    );
  }
  cache.set(spec.handler, h);
  return h;
}

/** Outputs a job wrote to its output file, one per line (kept whole: commas and spaces are part of them). */
export async function readOutputFile(file: string): Promise<string[]> {
  if (!file) return [];
  try {
    return outputLines(await readFile(file, 'utf8'));
  } catch {
    return [];
  }
}

/** A handler's outputs, checked: each one line (a user error names the handler otherwise). */
export function checkHandlerOutputs(spec: WorkflowSpec, outputs: readonly unknown[]): string[] {
  return outputs.map((o) => {
    if (typeof o !== 'string') throw new UserError(`handler of ${spec.name}: outputs must be strings`);
    return checkOutput(o, `handler of ${spec.name}`);
  });
}
