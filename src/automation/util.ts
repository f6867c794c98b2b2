/** Small helpers shared by the steps of a pass. */

export function groupBy<T>(items: Iterable<T>, key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(it);
  }
  return m;
}

/** An error's message, for a problem line. */
export function messageOf(err: unknown): string {
  return String(err instanceof Error ? err.message : err);
}
