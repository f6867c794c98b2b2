import { describe, expect, it } from 'vitest';
import { minMax, parseRange, parseRunList, parseRuns, splitNames } from '../../src/domain/selectors.js';
import { UsageError, UserError } from '../../src/errors.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('parseRuns', () => {
  it('reads comma lists, folds duplicates and sorts', () => {
    expect(parseRuns('386643,386642, 386642')).toEqual([386642, 386643]);
    expect(parseRuns(['386642', '386650,386644'])).toEqual([386642, 386644, 386650]);
    expect(parseRuns('7')).toEqual([7]);
  });

  it.each([
    ['1,,x', /--runs: empty item in '1,,x'/],
    ['1,x', /'x' is not a run number/],
    ['', /give at least one run number/],
    [',', /give at least one run number/],
    ['0', /run numbers start at 1/],
    ['-5', /'-5' is not a run number/],
    ['1.5', /'1.5' is not a run number/],
    ['1234567890', /'1234567890' is not a run number/],
    ['380000-380010', /is not a run number/],
  ])('refuses %j as a usage error (exit 2) that shows how to write it', (raw, re) => {
    const err = thrown(() => parseRuns(raw));
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect(err.message).toMatch(re);
    expect(err.message).toMatch(/--runs/);
  });
});

describe('parseRange', () => {
  it('reads an inclusive min,max', () => {
    expect(parseRange('380000,380500')).toEqual({ min: 380000, max: 380500 });
    expect(parseRange(' 5 , 5 ')).toEqual({ min: 5, max: 5 });
    expect(parseRange(['1', '2'])).toEqual({ min: 1, max: 2 });
  });

  it('refuses a reversed range and says which order to use', () => {
    const err = thrown(() => parseRange('380500,380000'));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(
      /380500 is above 380000: give the smaller run first \(--range 380000,380500\)/,
    );
  });

  it.each(['380000,', ',380000', '380000', '1,2,3', '', 'a,b'])(
    'refuses the open or malformed range %j',
    (raw) => {
      const err = thrown(() => parseRange(raw));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toMatch(/--range/);
    },
  );
});

describe('parseRunList', () => {
  it('reads one run per line with # comments, blank lines and CRLF', () => {
    const text = '# golden runs 2024C\n380001\n\n380003   # after the fix\r\n  380002\n380001\n';
    expect(parseRunList(text, 'runs.txt')).toEqual([380001, 380002, 380003]);
  });

  it('names the file and line of a bad entry', () => {
    const err = thrown(() => parseRunList('380001\n380002,380003\n', 'golden.txt'));
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /^golden\.txt:2: '380002,380003' is not a run number \(one run per line, # for comments\)/,
    );
  });

  it('refuses a file without runs', () => {
    expect(() => parseRunList('# nothing yet\n\n', 'empty.txt')).toThrow(
      /empty\.txt: no run numbers in the file/,
    );
  });

  it('refuses run 0', () => {
    expect(() => parseRunList('0\n', 'z.txt')).toThrow(/z\.txt:1: '0' is not a run number/);
  });
});

describe('splitNames and minMax', () => {
  it('splits workflow lists given space- or comma-separated, as in the ECAL docs', () => {
    expect(splitNames(['workflow1', 'workflow2', 'workflow3'])).toEqual([
      'workflow1',
      'workflow2',
      'workflow3',
    ]);
    expect(splitNames(['task1,task2,task3'])).toEqual(['task1', 'task2', 'task3']);
    expect(splitNames('a, b,,a')).toEqual(['a', 'b']);
    expect(splitNames(undefined)).toEqual([]);
  });

  it('finds min and max of a large list without spreading it', () => {
    const many = Array.from({ length: 200_000 }, (_, i) => 500_000 - i);
    expect(minMax(many)).toEqual({ min: 300_001, max: 500_000 });
    expect(minMax([])).toBeUndefined();
  });
});
