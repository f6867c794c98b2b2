import { describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { flowProgress } from '../../src/cli/flow-progress.js';
import { progressBar } from '../../src/cli/progress.js';
import type { PassReport } from '../../src/automation/pass.js';

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

describe('progress of automation --until-done on a non-terminal', () => {
  const report = (done: number): PassReport =>
    ({ campaigns: [{ campaign: 'c', counts: { wf: { done, new: 3 - done } } }] }) as unknown as PassReport;

  it('prints its last line once, however often it is stopped', () => {
    const lines: string[] = [];
    const p = flowProgress({ ...io(false), err: (t) => lines.push(t) }, 60_000);
    p.onPass(report(0));
    p.onPass(report(1)); // within everyMs: held back, printed at stop
    p.stop();
    p.stop();
    expect(lines).toEqual([
      'progress: c/wf 0/3 done, 0 failed, 0 in flight',
      'progress: c/wf 1/3 done, 0 failed, 0 in flight',
    ]);
  });
});
