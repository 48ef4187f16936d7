/**
 * The Kubernetes calls the operator makes, in one place (the RBAC in docs/operator.md
 * lists exactly these): list channels and pods, create/delete pods, patch channel
 * finalizers, server-side apply of channel status, create Events. Every call is
 * counted through `onRequest` (metrics, and the benchmark's requests per channel).
 */
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import {
  API_VERSION,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import { WORKER_POD_SELECTOR } from '../pod.ts';
import type { KubeHttp } from './http.ts';
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

/** Where a channel lives in the API: the collection (namespace '' = every namespace) or one object. */
export function channelPath(namespace: string, name?: string): string {
  const base = namespace
    ? `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`
    : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** A core/v1 collection or object: pods, events, secrets (namespace '' = every namespace). */
export function corePath(plural: string, namespace: string, name?: string): string {
  const base = namespace
    ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}`
    : `/api/v1/${plural}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

const MERGE_PATCH = 'application/merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

export class KubeClient {
  private readonly http: KubeHttp;
  private readonly onRequest: (kind: RequestKind) => void;

  constructor(http: KubeHttp, onRequest: (kind: RequestKind) => void = () => {}) {
    this.http = http;
    this.onRequest = onRequest;
  }

  listChannels(namespace: string): Promise<ListResult<WhatsAppChannel>> {
    return this.listAll<WhatsAppChannel>('list-channels', channelPath(namespace));
  }

  listWorkerPods(namespace: string): Promise<ListResult<V1Pod>> {
    return this.listAll<V1Pod>('list-pods', corePath('pods', namespace), WORKER_POD_SELECTOR);
  }

  /** Every namespace (their clinic labels: controller/namespace-clinics.ts). */
  listNamespaces(): Promise<ListResult<V1Namespace>> {
    return this.listAll<V1Namespace>('list-namespaces', '/api/v1/namespaces');
  }

  /** One namespace (a Role in that namespace may grant this); undefined if it does not exist. */
  async getNamespace(name: string): Promise<V1Namespace | undefined> {
    this.onRequest('get-namespace');
    try {
      return await this.http.request<V1Namespace>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`);
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** Creates the pod; undefined if a pod of that name exists already (the cache has not seen it yet). */
  async createPod(pod: V1Pod): Promise<V1Pod | undefined> {
    this.onRequest('create-pod');
    try {
      return await this.http.request<V1Pod>('POST', corePath('pods', pod.metadata!.namespace!), {
        query: { fieldManager: FIELD_MANAGER },
        body: { apiVersion: 'v1', kind: 'Pod', ...pod },
      });
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
      await this.http.request('DELETE', corePath('pods', namespace!, name!), {
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          preconditions: { uid },
        },
      });
    } catch (err) {
      if (apiStatus(err) === 404 || apiStatus(err) === 409) return;
      throw err;
    }
  }

  /** Replaces the finalizer list, conditional on the resourceVersion seen (409 if it moved on). */
  async setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<WhatsAppChannel> {
    this.onRequest('patch-finalizers');
    const { name, namespace, resourceVersion } = channel.metadata;
    return await this.http.request<WhatsAppChannel>('PATCH', channelPath(namespace!, name!), {
      query: { fieldManager: FIELD_MANAGER },
      contentType: MERGE_PATCH,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace, finalizers, resourceVersion },
      },
    });
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
    const { name, namespace } = channel.metadata;
    return await this.http.request<WhatsAppChannel>('PATCH', channelPath(namespace!, name!), {
      query: { fieldManager: FIELD_MANAGER },
      contentType: MERGE_PATCH,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace, annotations, ...(labels ? { labels } : {}) },
      },
    });
  }

  /** Server-side apply of the whole status under the operator's field manager. */
  async applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<WhatsAppChannel> {
    this.onRequest('apply-status');
    const { name, namespace } = channel.metadata;
    return await this.http.request<WhatsAppChannel>('PATCH', `${channelPath(namespace!, name!)}/status`, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      contentType: APPLY_PATCH,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
    });
  }

  /** A core/v1 Event on the channel, for `kubectl describe wac` and event exporters. */
  async createEvent(
    channel: WhatsAppChannel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    this.onRequest('create-event');
    const now = new Date().toISOString();
    await this.http.request('POST', corePath('events', channel.metadata.namespace!), {
      body: {
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
      },
    });
  }

  /** A paged list (500 a page), counted once per page. */
  private async listAll<T>(kind: RequestKind, path: string, labelSelector?: string): Promise<ListResult<T>> {
    const items: T[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      this.onRequest(kind);
      const page = await this.http.request<{
        items?: T[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>('GET', path, { query: { labelSelector, limit: PAGE, continue: cont } });
      // Plain JSON, as the watch sends it (no Date objects, unlike client-node's models).
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }
}
