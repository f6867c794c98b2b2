import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import { BURST_SETTLE_MS, SETTLE_MS, Waker } from '../../src/automation/wake.js';
import type { Store } from '../../src/store/store.js';

/** A Waker over a backend that can say a job ended (no store read: every backend here wakes the loop itself). */
function waker(): { w: Waker; ended: () => void } {
  let onChange: (() => void) | undefined;
  const backend = {
    watch: (cb: () => void) => {
      onChange = cb;
      return () => undefined;
    },
  } as Partial<Backend> as Backend;
  const w = new Waker({} as Store, { reportEveryMs: 1_000 });
  w.follow(['local'], () => backend);
  return { w, ended: () => onChange?.() };
}

/** Whether the wait has returned after `ms` more of (fake) time. */
async function returnedAfter(p: { done: boolean }, ms: number): Promise<boolean> {
  await vi.advanceTimersByTimeAsync(ms);
  return p.done;
}

function track(promise: Promise<boolean>): { done: boolean; woken?: boolean } {
  const s: { done: boolean; woken?: boolean } = { done: false };
  void promise.then((v) => {
    s.done = true;
    s.woken = v;
  });
  return s;
}

describe('Waker.wait settle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a job end after a quiet spell: the pass follows after the short settle', async () => {
    const { w, ended } = waker();
    const s = track(w.wait(60_000, new AbortController().signal));
    expect(await returnedAfter(s, 1_000)).toBe(false);
    ended();
    expect(await returnedAfter(s, SETTLE_MS - 5)).toBe(false);
    expect(await returnedAfter(s, 10)).toBe(true);
    expect(s.woken).toBe(true);
    w.close();
  });

  it('ends that arrived during the previous pass (a burst): the next pass waits the longer settle', async () => {
    const { w, ended } = waker();
    ended(); // during the pass
    const s = track(w.wait(60_000, new AbortController().signal));
    expect(await returnedAfter(s, BURST_SETTLE_MS - 10)).toBe(false);
    expect(await returnedAfter(s, 20)).toBe(true);
    expect(s.woken).toBe(true);
    w.close();
  });

  it('the settle never runs past the next full pass', async () => {
    const { w, ended } = waker();
    ended();
    const s = track(w.wait(40, new AbortController().signal));
    expect(await returnedAfter(s, 45)).toBe(true);
    w.close();
  });
});
