/** Stored text on a terminal (src/domain/text.ts): control and bidi characters escaped, JSON kept valid. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { visible, visibleLines } from '../../src/domain/text.js';

// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const anyText = fc.string({ unit: 'binary', maxLength: 60 });

describe('visible', () => {
  it('escapes ANSI escapes, bidi overrides and isolates, and line feeds of a value', () => {
    expect(visible('\u001b[31mred\u001b[0m \u202eabc\u2066x\u2069 a\nb\u200f')).toBe(
      '\\u001b[31mred\\u001b[0m \\u202eabc\\u2066x\\u2069 a\\nb\\u200f',
    );
    expect(visible('plain /eos/run_1.root ü 日本')).toBe('plain /eos/run_1.root ü 日本');
  });

  it('leaves no unsafe character in any text', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        expect(RAW.test(visible(s)) || visible(s).includes('\n')).toBe(false);
        expect(RAW.test(visibleLines(s))).toBe(false);
        expect(visibleLines(s).split('\n')).toHaveLength(s.split('\n').length);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps JSON valid and equal to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), anyText, (v, s) => {
        const text = JSON.stringify({ v, s }, null, 2);
        expect(JSON.parse(visibleLines(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });
});
