import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { progressBar } from '../../src/cli/progress.js';

const io = (isTTY: boolean): Io => ({ out: () => undefined, err: () => undefined, isTTY, env: {}, cwd: '/' });

describe('progress bar of long injections', () => {
  it('is drawn only on a terminal', () => {
    const piped = progressBar(io(false), 'inject');
    expect(piped.onProgress).toBeUndefined();
    piped.stop();
    const tty = progressBar(io(true), 'inject');
    expect(typeof tty.onProgress).toBe('function');
    tty.stop();
  });
});
