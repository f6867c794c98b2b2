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

/** Milliseconds as a short duration: `850ms`, `42s`, `3m10s`, `2h5m`, `90d`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86_400)
    return `${Math.floor(s / 3_600)}h${Math.floor(s / 60) % 60 ? `${Math.floor(s / 60) % 60}m` : ''}`;
  return `${Math.floor(s / 86_400)}d${Math.floor(s / 3_600) % 24 ? `${Math.floor(s / 3_600) % 24}h` : ''}`;
}
