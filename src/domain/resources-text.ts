/** How an attempt's memory and wall time read (CLI, why, the dashboard): `500 MB`, `6 s`, `30 min`. Pure. */

export const mb = (v: number | undefined): string => (v === undefined ? 'no memory limit' : `${v} MB`);

export const minutes = (v: number | undefined): string =>
  v === undefined ? 'no wall-time limit' : v < 1 ? `${Number((v * 60).toPrecision(4))} s` : `${v} min`;

/** What an attempt asked for, e.g. `1000 MB, 6 s`; '' when it asked for neither. */
export function asksText(j: { memoryMb?: number; walltimeMin?: number }): string {
  return [
    j.memoryMb !== undefined ? mb(j.memoryMb) : '',
    j.walltimeMin !== undefined ? minutes(j.walltimeMin) : '',
  ]
    .filter((x) => x !== '')
    .join(', ');
}
