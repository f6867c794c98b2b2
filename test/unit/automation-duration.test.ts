/** Durations given on the command line (`--interval 60s`, `--lost-after 10m`, …): `parseDuration`. */
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/domain/duration.js';
import { UsageError } from '../../src/errors.js';

describe('parseDuration', () => {
  it('reads every unit, fractions and blanks', () => {
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(parseDuration('60s', 'x')).toBe(60_000);
    expect(parseDuration('5m', 'x')).toBe(300_000);
    expect(parseDuration('1h', 'x')).toBe(3_600_000);
    expect(parseDuration('2d', 'x')).toBe(172_800_000);
    expect(parseDuration('1.5h', 'x')).toBe(5_400_000);
    expect(parseDuration(' 10 s ', 'x')).toBe(10_000);
    expect(parseDuration('1.5ms', 'x')).toBe(2);
  });

  it('takes a bare number (string or number) as seconds', () => {
    expect(parseDuration('90', 'x')).toBe(90_000);
    expect(parseDuration(30, 'x')).toBe(30_000);
    expect(parseDuration(0.5, 'x')).toBe(500);
  });

  it('rejects what is not a duration, naming the option', () => {
    for (const bad of ['', 'soon', '5x', '5 min', '-5s', '1e3s', 's', '5S', '1,5s']) {
      expect(() => parseDuration(bad, '--interval')).toThrow(UsageError);
      expect(() => parseDuration(bad, '--interval')).toThrow(`--interval: '${bad}' is not a duration`);
    }
    expect(() => parseDuration(Number.NaN, '--interval')).toThrow(UsageError);
  });

  it('rejects durations that round to nothing', () => {
    for (const zero of ['0', '0s', '0ms', '0.0h', '0.2ms', 0, 0.0001]) {
      expect(() => parseDuration(zero, '--lost-after')).toThrow(UsageError);
      expect(() => parseDuration(zero, '--lost-after')).toThrow(
        '--lost-after: the duration must be at least 1 ms',
      );
    }
  });
});
