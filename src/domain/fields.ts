/** Checks of campaign-file fields shared by the workflow and retry parsers (pure). */
import { UserError } from '../errors.js';

/** `o[k]` as a positive finite number, undefined when absent; a one-line UserError otherwise. */
export function positiveNumber(o: Record<string, unknown>, k: string, where: string): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new UserError(`${where}: '${k}' must be a positive number`);
  return v;
}
