/** InfluxQL quoting. Values go through bind parameters where the statement allows it; these cover the rest. */

/** A double-quoted identifier (measurement, tag key, field key, database). */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A single-quoted string literal. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
