/**
 * The rules for the arguments of the operator actions (reprocess, reset, lock), one set for every face: the
 * CLI checks its flags with them and the dashboard its JSON bodies, so both refuse the same input with the
 * same words. `what` names the argument as its face spells it (`--from-run`, `"fromRun"`).
 */
import { UsageError } from '../errors.js';

export const REPROCESS_MODES = ['failed', 'all'] as const;
export type ReprocessMode = (typeof REPROCESS_MODES)[number];

/** Largest run number (the registry's runs have at most 9 digits). */
export const MAX_RUN = 999_999_999;
/** Most runs one action may name. */
export const MAX_ACTION_RUNS = 10_000;

const shown = (v: unknown): string =>
  (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v))).slice(0, 40);

const isRun = (v: unknown, min: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_RUN;

/** The first run a lock holds: a whole number 0–999999999 (0: every run). */
export function fromRunArg(v: unknown, what: string): number {
  if (!isRun(v, 0))
    throw new UsageError(`${what} must be a run number (a whole number from 0 up), not ${shown(v)}`);
  return v;
}

/** What reprocess takes again: only failed pairs (the default) or all not in flight. */
export function modeArg(v: unknown, what: string): ReprocessMode {
  if (v === undefined) return 'failed';
  const m = REPROCESS_MODES.find((x) => x === v);
  if (!m) throw new UsageError(`${what} must be ${REPROCESS_MODES.join(' or ')}, not ${shown(v)}`);
  return m;
}

/** An on/off switch (e.g. reprocess with dependents): true or false; absent: false. */
export function switchArg(v: unknown, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new UsageError(`${what} must be true or false, not ${shown(v)}`);
  return v;
}

/** Why a lock is set: required, not blank; kept as given. */
export function reasonArg(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.trim() === '')
    throw new UsageError(`say why with ${what} (shown to everyone who lists the locks)`);
  return v;
}

/** A list of run numbers (each ≥ 1), without repetitions, sorted. */
export function runsArg(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new UsageError(`${what} must be a non-empty list of run numbers`);
  if (v.length > MAX_ACTION_RUNS) throw new UsageError(`${what}: at most ${MAX_ACTION_RUNS} runs at once`);
  const bad = v.find((r) => !isRun(r, 1));
  if (bad !== undefined)
    throw new UsageError(`${what}: ${shown(bad)} is not a run number (whole numbers from 1)`);
  return [...new Set(v as number[])].sort((a, b) => a - b);
}
