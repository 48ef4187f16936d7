/**
 * What "back" means for a `wait-then-reconnect` (close-decisions.ts): the dependency whose
 * failure closed the socket must work again before a new socket may acknowledge anything.
 */
import { REASONS } from './reconnect-policy.ts';

export interface Dependencies {
  /** JetStream takes events (sink.ts). */
  events: { healthy(): boolean };
  /** The auth store's breaker is closed and a cheap read/write works. */
  store: { breakerOpen(): boolean; healthy(): Promise<boolean> };
}

export function dependencyReadiness(deps: Dependencies): (reason: string) => Promise<boolean> {
  return async (reason) => {
    if (reason === REASONS.eventSinkUnavailable) return deps.events.healthy();
    if (reason === REASONS.storeUnavailable) return !deps.store.breakerOpen() && (await deps.store.healthy());
    return true;
  };
}
