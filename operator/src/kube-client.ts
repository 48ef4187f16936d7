/**
 * The few Kubernetes calls the operator makes, in one place (the chart's RBAC lists
 * exactly these): list/watch channels and pods, create/delete pods, patch channel
 * finalizers, server-side apply of channel status.
 */
import {
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  LABELS,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../contract/index.ts';
import type { ListResult } from './resource-cache.ts';

export const FIELD_MANAGER = 'whatsapp-operator';

/** KubernetesObjectApi addressing the status subresource. */
class StatusApi extends KubernetesObjectApi {
  protected override async specUriPath(
    spec: KubernetesObject,
    action: 'create' | 'delete' | 'patch' | 'read' | 'list' | 'replace',
  ): Promise<string> {
    return `${await super.specUriPath(spec, action)}/status`;
  }
}

export class KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly status: StatusApi;

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.status = kc.makeApiClient(StatusApi);
  }

  async listChannels(namespace: string): Promise<ListResult<WhatsAppChannel>> {
    const list = await this.objects.list(API_VERSION, KIND, namespace || undefined);
    return {
      items: list.items as unknown as WhatsAppChannel[],
      resourceVersion: list.metadata?.resourceVersion ?? '',
    };
  }

  async listWorkerPods(namespace: string): Promise<ListResult<V1Pod>> {
    const list = await this.objects.list(
      'v1',
      'Pod',
      namespace || undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      `${LABELS.managedBy}=whatsapp-operator`,
    );
    return { items: list.items as V1Pod[], resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  createPod(pod: V1Pod): Promise<V1Pod> {
    return this.objects.create(
      pod as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
    ) as Promise<V1Pod>;
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.objects.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name } });
  }

  async setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<void> {
    await this.objects.patch(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: {
          name: channel.metadata.name,
          namespace: channel.metadata.namespace,
          finalizers,
          resourceVersion: channel.metadata.resourceVersion,
        },
      } as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      PatchStrategy.MergePatch,
    );
  }

  /** A core/v1 Event on the channel, for `kubectl describe wac` and event exporters. */
  async emitEvent(
    channel: WhatsAppChannel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date();
    await this.objects.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${channel.metadata.name}.`, namespace: channel.metadata.namespace },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: KIND,
        name: channel.metadata.name,
        namespace: channel.metadata.namespace,
        uid: channel.metadata.uid,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: FIELD_MANAGER },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as KubernetesObject);
  }

  async applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<void> {
    await this.status.patch(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: channel.metadata.name, namespace: channel.metadata.namespace },
        status,
      } as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }
}
