/**
 * Adapter between the worker and the auth state store + lease (worker/src/state,
 * worker/src/lease — built separately). Everything the worker needs from them goes through the
 * two handles declared in runtime.ts.
 * TODO(state): wire to worker/src/state and worker/src/lease once their API lands.
 */
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.ts';
import type { Metrics } from './ops/metrics.ts';
import type { AuthStateHandle, LeaseHandle } from './runtime.ts';

export async function acquireChannelLease(
  _config: WorkerConfig,
  _logger: Logger,
  _metrics: Metrics,
): Promise<LeaseHandle> {
  throw new Error('the channel lease is not wired yet (worker/src/lease)');
}

export async function openChannelState(
  _config: WorkerConfig,
  _logger: Logger,
  _metrics: Metrics,
): Promise<AuthStateHandle> {
  throw new Error('the auth state store is not wired yet (worker/src/state)');
}

/** A short machine-readable reason and a human message for a failure to load the state. */
export function describeStateError(err: unknown): { reason: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  return { reason: 'StateUnreadable', message };
}
