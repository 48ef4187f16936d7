/**
 * The `Logout` deletion policy: ask the worker to log out (over NATS), then erase the
 * channel's objects in S3. Retries are bounded: after `maxAttempts` failures the
 * finalizer is released anyway and the failure is logged, so deleting a namespace
 * never hangs forever on NATS or S3 being down.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { channelSubjects, type WhatsAppChannel } from '../../contract/index.ts';
import type { ObjectStore } from '../../worker/src/auth-store/object-store.ts';
import type { DeletionPolicyRunner } from './reconciler.ts';

export class LogoutAndErase implements DeletionPolicyRunner {
  private readonly attempts = new Map<string, number>();
  private readonly nc: NatsConnection;
  private readonly store: (bucket: string) => ObjectStore;
  private readonly defaults: { bucket: string; prefix: string };
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;

  constructor(o: {
    nc: NatsConnection;
    store: (bucket: string) => ObjectStore;
    defaults: { bucket: string; prefix: string };
    logger: Logger;
    maxAttempts?: number;
    timeoutMs?: number;
  }) {
    this.nc = o.nc;
    this.store = o.store;
    this.defaults = o.defaults;
    this.logger = o.logger;
    this.maxAttempts = o.maxAttempts ?? 5;
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  logout(channel: WhatsAppChannel): Promise<void> {
    return this.bounded(channel, 'logout', () =>
      this.requestLogout(channel.spec.clinicId, channel.spec.channelId),
    );
  }

  erase(channel: WhatsAppChannel): Promise<void> {
    const { clinicId, channelId } = channel.spec;
    return this.bounded(channel, 'erase', async () => {
      const bucket = channel.spec.storage?.bucket ?? this.defaults.bucket;
      const prefix = `${channel.spec.storage?.prefix ?? this.defaults.prefix}/${clinicId}/${channelId}/`;
      const store = this.store(bucket);
      for (const o of await store.list(prefix)) await store.delete(o.key);
      this.logger.info(
        { audit: true, action: 'state-erased', clinic: clinicId, channel: channelId, actor: 'operator' },
        'channel state erased',
      );
    });
  }

  /** Retries (through the work queue's backoff) up to maxAttempts, then gives up loudly instead of blocking deletion. */
  private async bounded(channel: WhatsAppChannel, step: string, call: () => Promise<void>): Promise<void> {
    const key = `${channel.metadata.uid}/${step}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    try {
      await call();
      this.attempts.delete(key);
    } catch (err) {
      if (attempt < this.maxAttempts) throw err;
      this.attempts.delete(key);
      this.logger.error(
        {
          err: String(err),
          clinic: channel.spec.clinicId,
          channel: channel.spec.channelId,
          step,
          attempts: attempt,
        },
        `Logout policy: ${step} failed ${attempt} times; continuing the deletion (see docs/operations.md to finish by hand)`,
      );
    }
  }

  /** Logs the device out through its worker; a channel with no running worker has nobody to log out. */
  private async requestLogout(clinicId: string, channelId: string): Promise<void> {
    try {
      const reply = await this.nc.request(channelSubjects(clinicId, channelId).command('logout'), '{"v":1}', {
        timeout: this.timeoutMs,
      });
      const body = reply.json<{ ok: boolean; error?: { code: string; message: string } }>();
      if (!body.ok && body.error?.code !== 'NotConnected')
        throw new Error(`logout refused: ${body.error?.code}: ${body.error?.message}`);
    } catch (err) {
      if ((err as { code?: string }).code === '503') return; // no worker running
      throw err;
    }
  }
}
