/** Parsing of run selections given by operators (pure). */
import { UsageError, UserError } from '../errors.js';

const RUN_RE = /^\d{1,9}$/;

function runNumber(tok: string, what: string): number {
  const t = tok.trim();
  if (!RUN_RE.test(t)) {
    throw new UsageError(
      `${what}: '${tok}' is not a run number (give positive whole numbers, e.g. --runs 386642,386643)`,
    );
  }
  const n = Number(t);
  if (n <= 0) throw new UsageError(`${what}: run numbers start at 1, got '${tok}'`);
  return n;
}

/** `--runs 1,2,3` (also space-separated items, as yargs arrays). Duplicates are folded; order kept sorted. */
export function parseRuns(raw: string | readonly (string | number)[]): number[] {
  const parts = (Array.isArray(raw) ? raw.map(String) : [String(raw)]).flatMap((s) => s.split(','));
  if (parts.length === 0 || parts.every((p) => p.trim() === '')) {
    throw new UsageError('--runs: give at least one run number, e.g. --runs 386642,386643');
  }
  const runs = parts.map((p) => {
    if (p.trim() === '')
      throw new UsageError(`--runs: empty item in '${String(raw)}' (give e.g. --runs 386642,386643)`);
    return runNumber(p, '--runs');
  });
  return [...new Set(runs)].sort((a, b) => a - b);
}

/** `--range min,max` (inclusive). Open or reversed ranges are refused. */
export function parseRange(raw: string | readonly (string | number)[]): { min: number; max: number } {
  const text = Array.isArray(raw) ? raw.map(String).join(',') : String(raw);
  const parts = text.split(',');
  if (parts.length !== 2 || parts.some((p) => p.trim() === '')) {
    throw new UsageError(
      `--range: give two run numbers 'min,max' (inclusive), e.g. --range 386000,386500; got '${text}'`,
    );
  }
  const min = runNumber(parts[0] ?? '', '--range');
  const max = runNumber(parts[1] ?? '', '--range');
  if (min > max)
    throw new UsageError(
      `--range: ${min} is above ${max}: give the smaller run first (--range ${max},${min})`,
    );
  return { min, max };
}

/** A run-list file: one run per line, `#` starts a comment, blank lines ignored. */
export function parseRunList(text: string, file: string): number[] {
  const runs: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.replace(/#.*$/, '').trim();
    if (t === '') return;
    if (!RUN_RE.test(t) || Number(t) <= 0) {
      throw new UserError(
        `${file}:${i + 1}: '${line.trim()}' is not a run number (one run per line, # for comments)`,
      );
    }
    runs.push(Number(t));
  });
  if (runs.length === 0)
    throw new UserError(`${file}: no run numbers in the file (one run per line, # for comments)`);
  return [...new Set(runs)].sort((a, b) => a - b);
}

/** Splits workflow lists given space- or comma-separated (`--add a b c`, `--remove a,b`). */
export function splitNames(raw: readonly (string | number)[] | string | undefined): string[] {
  if (raw === undefined) return [];
  const arr = Array.isArray(raw) ? raw.map(String) : [String(raw)];
  return [...new Set(arr.flatMap((s) => s.split(/[\s,]+/)).filter((s) => s !== ''))];
}

/** Smallest and largest of a non-empty list (no argument spreading: safe for 100k runs). */
export function minMax(nums: readonly number[]): { min: number; max: number } | undefined {
  if (nums.length === 0) return undefined;
  let min = Infinity;
  let max = -Infinity;
  for (const n of nums) {
    if (n < min) min = n;
    if (n > max) max = n;
  }
  return { min, max };
}
