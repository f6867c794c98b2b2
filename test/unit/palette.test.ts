/** The charts' layout and colours: no cut labels or bars, workflows never in a status colour. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  axisSize,
  barSlot,
  bucketRange,
  STATUS_COLORS,
  WORKFLOW_COLORS,
} from '../../src/web/client/palette.js';
import { ROOT } from '../helpers/ctx.js';

describe('chart palette and layout', () => {
  it('gives workflows colours of their own, none of the status colours of app.css', () => {
    const css = readFileSync(path.join(ROOT, 'src', 'web', 'static', 'app.css'), 'utf8');
    const vars = [
      ...css.matchAll(/--(new|processing|done|failed|reprocess|blocked|none): (#[0-9a-f]{6})/g),
    ].map((m) => m[2]);
    expect(vars).toHaveLength(7);
    expect(new Set(vars)).toEqual(new Set(STATUS_COLORS));
    for (const c of WORKFLOW_COLORS) expect(STATUS_COLORS).not.toContain(c);
    expect(new Set(WORKFLOW_COLORS).size).toBe(WORKFLOW_COLORS.length);
  });

  it('sizes the y axis for its longest label (12,000 keeps its first digit)', () => {
    // about 8 px per character: '120,000' needs more room than uPlot's default 50 px
    expect(axisSize(['0', '5,000', '10,000', '120,000'])).toBeGreaterThanOrEqual(18 + 7 * 8);
    expect(axisSize(['0', '1'])).toBe(40);
  });

  it('draws the first and the last bucket whole, bars side by side', () => {
    const [lo, hi] = bucketRange(10);
    const { offset, width } = barSlot(0, 3);
    expect(lo).toBeLessThanOrEqual(offset);
    const last = barSlot(2, 3);
    expect(9 + last.offset + last.width).toBeLessThanOrEqual(hi);
    expect(last.offset).toBeCloseTo(offset + 2 * width);
  });
});
