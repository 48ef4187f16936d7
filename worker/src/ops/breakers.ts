/**
 * Circuit breakers (opossum) in front of the worker's dependencies. When one keeps failing,
 * calls fail fast instead of piling up behind timeouts; the supervisor reads `opened` to report
 * the channel degraded and to decide when to try again.
 */
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';

export interface BreakerOptions {
  /** Per-call timeout, or false when the call enforces its own. */
  timeoutMs: number | false;
  /** Percentage of failed calls in the rolling window that opens the circuit. */
  errorThresholdPercentage: number;
  /** How long the circuit stays open before one trial call is let through. */
  resetTimeoutMs: number;
  /** Calls in the window before the percentage is considered at all. */
  volumeThreshold: number;
  /** Errors that say nothing about the dependency's health (e.g. a fencing refusal). */
  isHealthyError?: (err: unknown) => boolean;
}

export const DEFAULT_BREAKER: BreakerOptions = {
  timeoutMs: false,
  errorThresholdPercentage: 50,
  resetTimeoutMs: 5_000,
  volumeThreshold: 3,
};

export function makeBreaker<A extends unknown[], R>(
  name: string,
  action: (...args: A) => Promise<R>,
  deps: { logger: Logger; metrics: Metrics },
  options: Partial<BreakerOptions> = {},
): CircuitBreaker<A, R> {
  const settings = { ...DEFAULT_BREAKER, ...options };
  const breaker = new CircuitBreaker<A, R>(action, {
    name,
    timeout: settings.timeoutMs,
    errorThresholdPercentage: settings.errorThresholdPercentage,
    resetTimeout: settings.resetTimeoutMs,
    volumeThreshold: settings.volumeThreshold,
    errorFilter: settings.isHealthyError ? (err: Error) => settings.isHealthyError!(err) : undefined,
  });
  deps.metrics.breakerState.set({ dependency: name }, 0);
  breaker.on('open', () => {
    deps.metrics.breakerState.set({ dependency: name }, 1);
    deps.logger.warn({ dependency: name }, 'circuit opened: failing fast');
  });
  breaker.on('halfOpen', () => deps.logger.info({ dependency: name }, 'circuit half-open: trying once'));
  breaker.on('close', () => {
    deps.metrics.breakerState.set({ dependency: name }, 0);
    deps.logger.info({ dependency: name }, 'circuit closed again');
  });
  return breaker;
}
