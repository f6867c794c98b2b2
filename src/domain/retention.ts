/**
 * Retention (pure part): which stored points of a series may go, as few time ranges as possible.
 *
 * InfluxDB 1.6 deletes by series and time range only (`DELETE … WHERE tag = … AND time >= a AND time <= b`),
 * never by field, and runctrl's series are coarse (campaign × workflow) with the entity in a field. So the points
 * of a series that must be kept split its deletable points into runs of neighbours: each run becomes one range
 * bounded by the exact nanosecond timestamps of its first and last point, so no kept point is ever inside one.
 * A point's nanosecond timestamp is its millisecond and its entity key (lineproto.ts: ms × 10⁶ + key).
 */
/** The points of one series: parallel columns (millisecond, sub-millisecond key, kept or not). */
export interface SeriesPoints {
  ms: number[];
  key: number[];
  keep: boolean[];
}

export interface NsRange {
  /** Inclusive bounds, nanoseconds as decimal text (beyond the doubles' exact integers). */
  from: string;
  to: string;
  points: number;
}

export function emptySeries(): SeriesPoints {
  return { ms: [], key: [], keep: [] };
}

export function nsText(ms: number, key: number): string {
  return `${Math.trunc(ms)}${String(key).padStart(6, '0')}`;
}

/** Indices of the points in time order. */
function timeOrder(s: SeriesPoints): number[] {
  const idx = s.ms.map((_, i) => i);
  return idx.sort((a, b) => (s.ms[a] ?? 0) - (s.ms[b] ?? 0) || (s.key[a] ?? 0) - (s.key[b] ?? 0));
}

/**
 * Maximal runs of neighbouring deletable points (in time order), each as an inclusive nanosecond range. (A series
 * holds one point per timestamp, so a range bounded by deletable points never covers a kept one.)
 */
export function deletionRanges(s: SeriesPoints): NsRange[] {
  const out: NsRange[] = [];
  let open: { from: number; to: number; n: number } | undefined;
  const close = (): void => {
    if (open)
      out.push({
        from: nsText(s.ms[open.from] ?? 0, s.key[open.from] ?? 0),
        to: nsText(s.ms[open.to] ?? 0, s.key[open.to] ?? 0),
        points: open.n,
      });
    open = undefined;
  };
  for (const i of timeOrder(s)) {
    if (s.keep[i] === true) close();
    else if (open) {
      open.to = i;
      open.n++;
    } else open = { from: i, to: i, n: 1 };
  }
  close();
  return out;
}

/**
 * Marks, per entity, all but its last `n` points (in time order) deletable when they are older than `before`
 * (Unix ms); every other point is kept. `entity[i]` names the entity of point i.
 */
export function keepLastN(s: SeriesPoints, entity: readonly number[], n: number, before: number): void {
  const byEntity = new Map<number, number[]>();
  for (const i of timeOrder(s)) {
    const e = entity[i] ?? 0;
    let l = byEntity.get(e);
    if (!l) byEntity.set(e, (l = []));
    l.push(i);
  }
  for (const l of byEntity.values()) {
    l.forEach((i, k) => {
      s.keep[i] = k >= l.length - n || (s.ms[i] ?? 0) >= before;
    });
  }
}
