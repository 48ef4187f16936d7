/** The errors of the channel state that callers tell apart (worker/src/auth-store-setup.ts maps them to reasons). */

/** A write was refused because another worker holds the channel now. */
export class FencedError extends Error {
  readonly code = 'Fenced';
  constructor(key: string) {
    super(`write of ${key} refused: another worker has taken over this channel`);
    this.name = 'FencedError';
  }
}

/** The stored state is inconsistent in a way that must not be papered over. */
export class StateIntegrityError extends Error {
  readonly code = 'StateInconsistent';
  constructor(message: string) {
    super(message);
    this.name = 'StateIntegrityError';
  }
}
