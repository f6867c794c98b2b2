import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `60s`, `5m`, `1h`, `2d`, or a bare number of seconds → milliseconds. */
export function parseDuration(raw: string | number, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(raw));
  if (!m) throw new UsageError(`${what}: '${raw}' is not a duration (e.g. 60s, 5m, 1h)`);
  // rounded first: '0.2ms' is not a positive number of milliseconds
  const ms = Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1_000));
  if (!(ms > 0)) throw new UsageError(`${what}: the duration must be at least 1 ms`);
  return ms;
}
