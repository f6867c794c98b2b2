import { readFile } from 'node:fs/promises';
import type { RunInfo } from '../domain/run.js';
import { parseRunList } from '../domain/selectors.js';
import { UsageError, UserError } from '../errors.js';
import type { Ctx } from './context.js';

/** Exactly one way of naming runs. */
export interface RunSelector {
  runs?: number[];
  range?: { min: number; max: number };
  era?: string;
  /** Path of a run-list file. */
  runlist?: string;
}

export function selectorKind(sel: RunSelector): 'runs' | 'range' | 'era' | 'runlist' | undefined {
  const given = (['runs', 'range', 'era', 'runlist'] as const).filter((k) => sel[k] !== undefined);
  if (given.length > 1)
    throw new UsageError(
      `give only one of --runs, --range, --era, --runlist (got ${given.map((g) => `--${g}`).join(' and ')})`,
    );
  return given[0];
}

/** Reads a file named by the operator; a missing or unreadable one is a user error that says what to give. */
export async function readUserFile(file: string, what: string, hint: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} '${file}' (${code ?? String(err)}): ${hint}`);
  }
}

export async function readRunList(file: string): Promise<number[]> {
  return parseRunList(
    await readUserFile(file, 'run-list file', 'give an existing file with one run per line'),
    file,
  );
}

function missingError(missing: number[], describe: string): UserError {
  const shown = missing.slice(0, 10).join(', ');
  const more = missing.length > 10 ? ` and ${missing.length - 10} more` : '';
  return new UserError(
    `${missing.length} run(s) not found in the run source (${describe}): ${shown}${more}: check the run numbers, or point --run-source at the right registry`,
  );
}

/** Resolves a selector to run metadata through the run source; every named run must exist there. */
export async function resolveRuns(ctx: Ctx, sel: RunSelector): Promise<RunInfo[]> {
  const kind = selectorKind(sel);
  if (kind === undefined)
    throw new UsageError(
      'say which runs: give one of --runs 1,2,3, --range MIN,MAX, --era NAME or --runlist FILE',
    );
  const source = ctx.source();
  if (kind === 'era') {
    const era = sel.era ?? '';
    const eras = await source.eras();
    if (!eras.includes(era)) {
      throw new UserError(
        `unknown era '${era}' in the run source (${source.describe}); known eras: ${eras.join(', ') || 'none'}`,
      );
    }
    const runs = await source.fetch({ era });
    if (runs.length === 0)
      throw new UserError(`era '${era}' has no runs in the run source (${source.describe})`);
    return runs;
  }
  if (kind === 'range') {
    const range = sel.range ?? { min: 0, max: 0 };
    const runs = await source.fetch({ range });
    if (runs.length === 0) {
      throw new UserError(
        `no runs between ${range.min} and ${range.max} in the run source (${source.describe}): check the range`,
      );
    }
    return runs;
  }
  const wanted = kind === 'runs' ? (sel.runs ?? []) : await readRunList(sel.runlist ?? '');
  const runs = await source.fetch({ runs: wanted });
  const found = new Set(runs.map((r) => r.run));
  const missing = wanted.filter((r) => !found.has(r)).sort((a, b) => a - b);
  if (missing.length > 0) throw missingError(missing, source.describe);
  return runs;
}
