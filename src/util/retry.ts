import { TransientError } from '../errors.js';

export interface BackoffOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** First delay in ms. */
  baseMs: number;
  /** Cap on one delay in ms. */
  maxMs: number;
  signal?: AbortSignal;
  onRetry?: (err: TransientError, attempt: number, delayMs: number) => void;
}

export const DEFAULT_BACKOFF: BackoffOptions = { attempts: 5, baseMs: 200, maxMs: 5_000 };

/** Capped exponential backoff with full jitter: delay in [d/2, d] where d = min(max, base * 2^n). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + (random() * d) / 2);
}

/** Sleep that ends early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs fn, retrying TransientErrors with capped backoff. Any other error is rethrown at once. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: BackoffOptions = DEFAULT_BACKOFF,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= opts.attempts || opts.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, opts.baseMs, opts.maxMs);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
