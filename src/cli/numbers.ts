/** Checks of numeric flags (yargs parses `--x abc` as NaN and accepts any sign and fraction). */
import { UsageError } from '../errors.js';

/**
 * An integer flag within [min, max], or absent: a one-line usage error otherwise. `what` names the value
 * expected in the message (e.g. "a positive integer").
 */
export function checkInt(value: unknown, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return;
  const what =
    max !== Number.MAX_SAFE_INTEGER
      ? `an integer from ${min} to ${max}`
      : min === 1
        ? 'a positive integer'
        : `an integer of at least ${min}`;
  throw new UsageError(`${flag}: give ${what} (not '${String(value)}')`);
}
