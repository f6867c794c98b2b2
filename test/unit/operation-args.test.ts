/** The rules of the operator actions' arguments, shared by the CLI flags and the dashboard (issue 14 item 9). */
import { describe, expect, it } from 'vitest';
import { fromRunArg, modeArg, reasonArg, runsArg } from '../../src/domain/operation-args.js';

describe('operation arguments', () => {
  it('takes run numbers 0–999999999 for --from-run, nothing else', () => {
    expect(fromRunArg(0, '--from-run')).toBe(0);
    expect(fromRunArg(386000, '--from-run')).toBe(386000);
    for (const v of ['abc', -5, 1.5, Number.NaN, 1e10, undefined, null, '12'])
      expect(() => fromRunArg(v, '--from-run')).toThrow(/--from-run must be a run number/);
  });

  it('takes failed or all for --mode (failed when absent)', () => {
    expect(modeArg(undefined, '--mode')).toBe('failed');
    expect(modeArg('all', '--mode')).toBe('all');
    expect(() => modeArg('bogus', '--mode')).toThrow(/--mode must be failed or all, not "bogus"/);
  });

  it('requires a reason that is not blank, kept as given', () => {
    expect(reasonArg(' new pedestals ', '--reason')).toBe(' new pedestals ');
    for (const v of [undefined, '', '   ', 5])
      expect(() => reasonArg(v, '--reason')).toThrow(/say why with --reason/);
  });

  it('takes a non-empty list of runs ≥ 1, folded and sorted', () => {
    expect(runsArg([3, 1, 3], '"runs"')).toEqual([1, 3]);
    for (const v of [[], [0], ['1'], 'x', [1, -2]]) expect(() => runsArg(v, '"runs"')).toThrow(/"runs"/);
  });
});
