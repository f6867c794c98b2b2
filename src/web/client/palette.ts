/** Chart layout and colours (pure, no DOM): unit-tested in test/unit/palette.test.ts. */

/** The status colours of app.css (--new … --blocked): no workflow gets one of them. */
export const STATUS_COLORS = ['#90a4ae', '#42a5f5', '#43a047', '#e53935', '#ce93d8', '#fb8c00', '#eceff1'];

/** Workflow colours, a palette of their own; past its end, the colours repeat dashed. */
export const WORKFLOW_COLORS = [
  '#00838f',
  '#283593',
  '#ad1457',
  '#827717',
  '#4e342e',
  '#37474f',
  '#00695c',
  '#6d4c41',
];

/** The pixel width of a y axis for its labels (about 8 px a character, plus the ticks): no digit is cut. */
export const axisSize = (labels: readonly string[]): number =>
  Math.max(40, 18 + 8 * labels.reduce((m, l) => Math.max(m, l.length), 0));

/** The x range of n buckets at 0…n-1: half a bucket of room either side, so the first and last bars are whole. */
export const bucketRange = (n: number): [number, number] => [-0.5, n - 0.5];

/** Bar k of n side by side in a bucket: its left edge and width, in buckets (80 % of a bucket for all n). */
export function barSlot(k: number, n: number): { offset: number; width: number } {
  const width = 0.8 / Math.max(1, n);
  return { offset: -0.4 + k * width, width };
}
