/**
 * The cluster's `ChannelStore` (ports.ts): channels from the watch cache, writes through the
 * API (finalizers and progress annotations by JSON merge patch conditional on the
 * resourceVersion, status by server-side apply, Events). After each write to a channel its
 * cache entry is stale until it shows a newer version (freshness.ts).
 */
import type { WhatsAppChannel, WhatsAppChannelStatus } from '../../../contract/index.ts';
import { apiMessage, type KubeClient } from '../kube/client.ts';
import { keyOf, type ResourceCache } from '../kube/resource-cache.ts';
import type { Logger } from 'pino';
import type { ChannelsByIdentity } from './channels-by-identity.ts';
import { Freshness } from './freshness.ts';
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

  setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<void> {
    return this.write(channel, 'finalizer', () => this.kube.setFinalizers(channel, finalizers));
  }

  annotate(
    channel: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels?: Record<string, string | null>,
  ): Promise<void> {
    return this.write(channel, 'progress', () => this.kube.setAnnotations(channel, annotations, labels));
  }

  applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<void> {
    return this.write(channel, 'status', () => this.kube.applyStatus(channel, status));
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

  /** A write to the channel; afterwards its cache entry is stale until it shows a newer version. */
  private async write(
    channel: WhatsAppChannel,
    what: string,
    write: () => Promise<WhatsAppChannel>,
  ): Promise<void> {
    this.onWrite(what);
    const before = channel.metadata.resourceVersion;
    const written = await write();
    // A write that changed nothing (the server had it already) keeps the version: nothing to wait for.
    if (written?.metadata?.resourceVersion === before) return;
    this.fresh.expect(keyOf(channel), (c) => !c || c.metadata.resourceVersion !== before);
  }
}
