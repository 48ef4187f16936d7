/**
 * Creating a JetStream stream, or bringing an existing one to this release's settings, the one
 * way every stream the platform keeps is set up (the audit stream, the clinics' idempotency
 * buckets): a setting an older release left different is updated, everything else stays.
 */
import type { JetStreamManager, StreamConfig } from 'nats';
import { classifyNatsError } from './nats-errors.ts';

export async function ensureStreamSettings(
  jsm: JetStreamManager,
  wanted: Partial<StreamConfig> & { name: string },
): Promise<'created' | 'updated' | 'unchanged'> {
  const now = await jsm.streams.info(wanted.name).catch((err: unknown) => {
    if (classifyNatsError(err) === 'not-found') return undefined;
    throw err;
  });
  if (!now) {
    await jsm.streams.add(wanted);
    return 'created';
  }
  const current = now.config as unknown as Record<string, unknown>;
  const differs = Object.entries(wanted).some(([k, v]) => JSON.stringify(current[k]) !== JSON.stringify(v));
  if (!differs) return 'unchanged';
  await jsm.streams.update(wanted.name, { ...now.config, ...wanted });
  return 'updated';
}
