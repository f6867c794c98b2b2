import type { RunSelector } from '../core/runs.js';
import { parseRange, parseRuns } from '../domain/selectors.js';

export function selectorFrom(a: {
  runs?: string | undefined;
  range?: string | undefined;
  era?: string | undefined;
  runlist?: string | undefined;
}): RunSelector {
  const sel: RunSelector = {};
  if (a.runs !== undefined) sel.runs = parseRuns(a.runs);
  if (a.range !== undefined) sel.range = parseRange(a.range);
  if (a.era !== undefined) sel.era = a.era;
  if (a.runlist !== undefined) sel.runlist = a.runlist;
  return sel;
}
