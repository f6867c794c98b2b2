/**
 * The one error module of runctrl.
 *
 * - {@link UserError}: the operator can fix it (bad input, unknown campaign, wrong credentials, missing
 *   privilege). Printed as one line without a stack; exit code 1 (2 for command-line usage errors).
 * - {@link TransientError}: the infrastructure did not answer now (server unreachable, 5xx, batch
 *   controller down, submit limit). Retried with capped backoff; when retries are exhausted it is
 *   printed as one line and the process exits 3.
 * - {@link InternalError}: a bug or broken invariant. Printed with its stack; exit code 70.
 */

export type ErrorKind = 'user' | 'transient' | 'internal';

export abstract class RunctrlError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly exitCode: number;
}

export class UserError extends RunctrlError {
  readonly kind = 'user' as const;
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A command-line usage error (exit 2). */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, { exitCode: 2 });
    this.name = 'UsageError';
  }
}

export class TransientError extends RunctrlError {
  readonly kind = 'transient' as const;
  readonly exitCode = 3;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransientError';
  }
}

export class InternalError extends RunctrlError {
  readonly kind = 'internal' as const;
  readonly exitCode = 70;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InternalError';
  }
}

export function isTransient(err: unknown): err is TransientError {
  return err instanceof TransientError;
}

/** Exit code and the text to print for any thrown value. */
export function describeError(err: unknown): { exitCode: number; text: string } {
  if (err instanceof UserError || err instanceof TransientError) {
    return { exitCode: err.exitCode, text: `runctrl: ${err.message}` };
  }
  if (err instanceof InternalError) {
    return { exitCode: err.exitCode, text: `runctrl: internal error: ${err.stack ?? err.message}` };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { exitCode: 70, text: `runctrl: internal error: ${e.stack ?? e.message}` };
}

/** A user error about something that does not exist (unknown campaign, run, page): a web answer says 404. */
export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}
