/**
 * Errors the user can act on. `field` names the config path (or option) at fault; the message shown
 * to the user is always `field: reason`, one line, no stack trace (see src/cli.ts).
 */
export class InputError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'InputError';
  }
}

/** A solver or simulation that did not converge or diverged; `history` holds what was measured. */
export class ConvergenceError extends Error {
  constructor(
    message: string,
    readonly history: number[] = [],
  ) {
    super(message);
    this.name = 'ConvergenceError';
  }
}

/** Losses that grew without bound; `partial` is the result up to (not including) the first diverged time. */
export class DivergenceError extends ConvergenceError {
  constructor(
    message: string,
    readonly partial?: unknown,
  ) {
    super(message);
    this.name = 'DivergenceError';
  }
}
