/** The last non-empty stderr line of the failures view: bounded, regular files only, remembered per job. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { causeOf, normaliseCause } from '../../src/domain/failures.js';
import { lastNonEmptyLine, memoLines } from '../../src/util/last-line.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-lastline-'));

describe('lastNonEmptyLine', () => {
  it('reads the last non-empty line of the last bytes of a regular file', async () => {
    const f = path.join(dir, 'stderr');
    writeFileSync(f, `${'x'.repeat(20_000)}\nfirst\r\nERROR: it broke  \n\n  \n`);
    expect(await lastNonEmptyLine(f, 1024)).toBe('ERROR: it broke');
    expect(await lastNonEmptyLine(path.join(dir, 'missing'))).toBe('');
    expect(await lastNonEmptyLine('')).toBe('');
  });

  it('refuses a FIFO or a directory at once instead of hanging', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await lastNonEmptyLine(fifo, 1024, 60_000)).toBe('');
    expect(await lastNonEmptyLine(dir)).toBe('');
  });

  it('is remembered per key', async () => {
    let reads = 0;
    const f = memoLines(
      (k: string) => Promise.resolve(`${k} ${++reads}`),
      (k) => k,
      2,
    );
    expect([await f('a'), await f('a'), await f('b'), await f('c'), await f('a')]).toEqual([
      'a 1',
      'a 1',
      'b 2',
      'c 3',
      'a 4',
    ]);
  });
});

describe('causes', () => {
  it('normalise numbers, run ids and hex ids; keep the exit code', () => {
    expect(normaliseCause('cannot open /eos/run_386005/raw_002.root at 0x7ffe12  (try 3)')).toBe(
      'cannot open /eos/run_N/raw_N.root at N (try N)',
    );
    expect(causeOf({ exitCode: 65, reason: 'exit 65 (exit-code file)', stderrLine: 'ERR 12' })).toBe(
      'exit 65 · ERR N',
    );
    expect(causeOf({ exitCode: null, reason: 'lost: not in the queue for 12 s\nmore', stderrLine: '' })).toBe(
      'lost: not in the queue for N s',
    );
  });
});
