/**
 * The Kubernetes calls the operator makes, in one place (the RBAC in docs/operator.md
 * lists exactly these): list channels and pods, create/delete pods, patch channel
 * finalizers, server-side apply of channel status, create Events. Every call is
 * counted through `onRequest` (metrics, and the benchmark's requests per channel).
 */
import {
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1Namespace,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  KIND,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import { WORKER_POD_SELECTOR } from '../pod.ts';
import type { ListResult } from './resource-cache.ts';

export const FIELD_MANAGER = 'whatsapp-operator';
const PAGE = 500;

/** The HTTP status of a failed API call, if it got that far. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message, for conditions and logs (never the whole response dump). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body.slice(0, 500);
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String(body.message);
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/** KubernetesObjectApi addressing the status subresource. */
class StatusApi extends KubernetesObjectApi {
  protected override async specUriPath(
    spec: KubernetesObject,
    action: 'create' | 'delete' | 'patch' | 'read' | 'list' | 'replace',
  ): Promise<string> {
    return `${await super.specUriPath(spec, action)}/status`;
  }
}

export type RequestKind =
  | 'list-channels'
  | 'list-pods'
  | 'create-pod'
  | 'delete-pod'
  | 'patch-finalizers'
  | 'patch-annotations'
  | 'apply-status'
  | 'create-event'
  | 'list-namespaces'
  | 'get-namespace';

export class KubeClient {
  private readonly objects: KubernetesObjectApi;
  private readonly status: StatusApi;
  private readonly onRequest: (kind: RequestKind) => void;

  constructor(kc: KubeConfig, onRequest: (kind: RequestKind) => void = () => {}) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.status = kc.makeApiClient(StatusApi);
    this.onRequest = onRequest;
  }

  listChannels(namespace: string): Promise<ListResult<WhatsAppChannel>> {
    return this.listAll<WhatsAppChannel>('list-channels', API_VERSION, KIND, namespace);
  }

  listWorkerPods(namespace: string): Promise<ListResult<V1Pod>> {
    return this.listAll<V1Pod>('list-pods', 'v1', 'Pod', namespace, WORKER_POD_SELECTOR);
  }

  /** Every namespace (their clinic labels: controller/namespace-clinics.ts). */
  listNamespaces(): Promise<ListResult<V1Namespace>> {
    return this.listAll<V1Namespace>('list-namespaces', 'v1', 'Namespace', '');
  }

  /** One namespace (a Role in that namespace may grant this); undefined if it does not exist. */
  async getNamespace(name: string): Promise<V1Namespace | undefined> {
    this.onRequest('get-namespace');
    try {
      return (await this.objects.read({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      })) as V1Namespace;
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** Creates the pod; undefined if a pod of that name exists already (the cache has not seen it yet). */
  async createPod(pod: V1Pod): Promise<V1Pod | undefined> {
    this.onRequest('create-pod');
    try {
      return (await this.objects.create(
        pod as KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
      )) as V1Pod;
    } catch (err) {
      if (apiStatus(err) === 409) return undefined;
      throw err;
    }
  }

  /**
   * Deletes exactly this pod (uid precondition: never a newer pod of the same name that a
   * stale cache did not show yet). A pod that is already gone is not an error.
   */
  async deletePod(pod: V1Pod): Promise<void> {
    this.onRequest('delete-pod');
    const { namespace, name, uid } = pod.metadata!;
    try {
      await this.objects.delete(
        { apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name } },
        undefined,
        undefined,
        undefined,
        undefined,
        'Background',
        { preconditions: { uid } },
      );
    } catch (err) {
      if (apiStatus(err) === 404 || apiStatus(err) === 409) return;
      throw err;
    }
  }

  /** Replaces the finalizer list, conditional on the resourceVersion seen (409 if it moved on). */
  async setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<WhatsAppChannel> {
    this.onRequest('patch-finalizers');
    return (await this.objects.patch(
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
    )) as unknown as WhatsAppChannel;
  }

  /**
   * Sets (string) or removes (null) annotations by JSON merge patch: the reconciler's progress
   * that must survive a leader change (and labels with them: a rollout's marks). Not
   * conditional: a merge patch touches only these keys.
   */
  async setAnnotations(
    channel: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels?: Record<string, string | null>,
  ): Promise<WhatsAppChannel> {
    this.onRequest('patch-annotations');
    return (await this.objects.patch(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: {
          name: channel.metadata.name,
          namespace: channel.metadata.namespace,
          annotations,
          ...(labels ? { labels } : {}),
        },
      } as unknown as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      PatchStrategy.MergePatch,
    )) as unknown as WhatsAppChannel;
  }

  /** Server-side apply of the whole status under the operator's field manager. */
  async applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<WhatsAppChannel> {
    this.onRequest('apply-status');
    return (await this.status.patch(
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
    )) as unknown as WhatsAppChannel;
  }

  /** A core/v1 Event on the channel, for `kubectl describe wac` and event exporters. */
  async createEvent(
    channel: WhatsAppChannel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    this.onRequest('create-event');
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
        resourceVersion: channel.metadata.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: FIELD_MANAGER },
      reportingComponent: FIELD_MANAGER,
      reportingInstance: process.env.POD_NAME ?? FIELD_MANAGER,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as KubernetesObject);
  }

  private async listAll<T>(
    kind: RequestKind,
    apiVersion: string,
    objectKind: string,
    namespace: string,
    labelSelector?: string,
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      this.onRequest(kind);
      const page = await this.objects.list(
        apiVersion,
        objectKind,
        namespace || undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
        PAGE,
        cont,
      );
      // Lists come back as client-node models (timestamps as Date); the watch sends plain
      // JSON. The operator only reads names, labels, annotations, owners, uids, phases and
      // reasons, and truth of deletionTimestamp, which both forms carry alike.
      items.push(...(page.items as T[]));
      const meta = page.metadata as
        { resourceVersion?: string; _continue?: string; continue?: string } | undefined;
      resourceVersion = meta?.resourceVersion ?? resourceVersion;
      cont = meta?._continue || meta?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }
}
