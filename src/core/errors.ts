/**
 * Errors raised on bad input. Every reader throws `InputError` naming the offending file (or
 * source description, or option) and the problem, so a user can act on the message without a
 * stack trace.
 */
export class InputError extends Error {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'InputError';
    this.file = file;
    this.problem = problem;
  }
}

/** A bad option value or an unknown option name (engines, CLI flags). `file` is the option's name. */
export class OptionError extends InputError {
  constructor(option: string, problem: string) {
    super(option, problem);
    this.name = 'OptionError';
  }
}

/** Raised when an operation is cancelled through an AbortSignal. */
export class AbortError extends Error {
  constructor(message = 'operation aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}

/** Whether an error is a cancellation (ours or the platform's). */
export function isAbortError(err: unknown): boolean {
  return err instanceof AbortError || (err instanceof Error && err.name === 'AbortError');
}
