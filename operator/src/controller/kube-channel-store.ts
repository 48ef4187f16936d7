/**
 * The cluster's `ChannelStore` (ports.ts): channels from the watch cache, writes through the
 * API (finalizers and progress annotations by JSON merge patch conditional on the
 * resourceVersion, status by server-side apply, Events). After each write to a channel its
 * cache entry is stale until it shows that write (freshness.ts, `showsWrite`).
 */
import type { WhatsAppChannel, WhatsAppChannelStatus } from '../../../contract/index.ts';
import { apiMessage, type KubeClient } from '../kube/client.ts';
import { keyOf, type ResourceCache } from '../kube/resource-cache.ts';
import type { Logger } from 'pino';
import type { ChannelsByIdentity } from './channels-by-identity.ts';
import { Freshness } from './freshness.ts';
import { slimManagedFields } from './predicate.ts';
import type { ChannelStore } from './ports.ts';

export class KubeChannelStore implements ChannelStore {
  private readonly fresh = new Freshness<WhatsAppChannel>();
  private readonly kube: KubeClient;
  private readonly channels: ResourceCache<WhatsAppChannel>;
  private readonly byIdentity: ChannelsByIdentity;
  private readonly logger: Logger;
  private readonly onWrite: (what: string) => void;

  constructor(deps: {
    kube: KubeClient;
    channels: ResourceCache<WhatsAppChannel>;
    /** The channel cache's keys by identity (kept by the cache's onChange). */
    byIdentity: ChannelsByIdentity;
    logger: Logger;
    onWrite?: ((what: string) => void) | undefined;
  }) {
    this.kube = deps.kube;
    this.channels = deps.channels;
    this.byIdentity = deps.byIdentity;
    this.logger = deps.logger;
    this.onWrite = deps.onWrite ?? (() => {});
  }

  get(key: string): WhatsAppChannel | undefined {
    return this.channels.get(key);
  }

  claimsOf(clinicId: string, channelId: string): WhatsAppChannel[] {
    return this.byIdentity
      .keys(clinicId, channelId)
      .map((k) => this.channels.get(k))
      .filter((c): c is WhatsAppChannel => c !== undefined);
  }

  staleFor(key: string, channel: WhatsAppChannel | undefined): number {
    return this.fresh.staleFor(key, channel);
  }

  forget(key: string): void {
    this.fresh.forget(key);
  }

  setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<WhatsAppChannel | undefined> {
    return this.write(channel, 'finalizer', () => this.kube.setFinalizers(channel, finalizers));
  }

  async annotate(
    channel: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels?: Record<string, string | null>,
  ): Promise<void> {
    await this.write(channel, 'progress', () => this.kube.setAnnotations(channel, annotations, labels));
  }

  async applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<void> {
    await this.write(channel, 'status', () => this.kube.applyStatus(channel, status));
  }

  /** Events are best effort (a terminating namespace refuses them): never fail a reconcile for one. */
  async event(
    channel: WhatsAppChannel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    this.onWrite('event');
    await this.kube
      .createEvent(channel, type, reason, message)
      .catch((err: unknown) =>
        this.logger.debug({ channel: keyOf(channel), reason, err: apiMessage(err) }, 'event not recorded'),
      );
  }

  /**
   * A write to the channel; afterwards its cache entry is stale until it shows this write.
   * Returns the channel as written (managedFields dropped, as the cache keeps it).
   */
  private async write(
    channel: WhatsAppChannel,
    what: string,
    write: () => Promise<WhatsAppChannel>,
  ): Promise<WhatsAppChannel | undefined> {
    this.onWrite(what);
    const before = channel.metadata.resourceVersion;
    const result = await write();
    const written = result?.metadata?.resourceVersion;
    // A write that changed nothing (the server had it already) keeps the version: nothing to wait for.
    if (written !== before)
      this.fresh.expect(keyOf(channel), (c) => !c || showsWrite(c.metadata.resourceVersion, before, written));
    return result?.metadata ? slimManagedFields(result) : undefined;
  }
}

/**
 * Whether a cached version includes our write. "Not the version we read" is not enough:
 * another write that landed between our read and our write (a status written just before a
 * deletion) shows in the cache as a newer version *without* ours, and a progress annotation
 * trusted missing there repeats its step (a second logout). The written version, or one after it,
 * is. Resource versions are etcd revisions (decimal, increasing) on every API server; one that
 * is not decimal falls back to "changed since our read".
 */
export function showsWrite(
  cached: string | undefined,
  read: string | undefined,
  written: string | undefined,
): boolean {
  if (cached === written) return true;
  const decimal = /^[0-9]+$/;
  if (cached && written && decimal.test(cached) && decimal.test(written))
    return BigInt(cached) > BigInt(written);
  return cached !== read;
}
