/**
 * The clinic of each namespace (its `whatsapp.clinic.dev/clinic` label), for the clinic rule
 * (identity.ts). Only names and labels are kept. A label change calls `changed(namespace)`, so
 * the namespace's channels are reconciled again (a relabel stops or resumes them).
 *
 * - Watching every namespace: a list+watch cache of namespaces (ClusterRole: list, watch).
 * - Watching one namespace (WA_WATCH_NAMESPACE): that namespace is read by name, again every
 *   `pollMs`, because a namespaced Role can grant `get` on its own namespace object but never a
 *   list or watch of namespaces (those are cluster-scoped requests).
 */
import type { V1Namespace } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.ts';
import type { KubeHttp } from '../kube/http.ts';
import { ResourceCache, type ResourceCacheOptions } from '../kube/resource-cache.ts';
import { CLINIC_NAMESPACE_LABEL } from './identity.ts';

export interface NamespaceClinics {
  clinicOf(namespace: string): string | undefined;
  start(): Promise<void>;
  stop(): void;
}

const clinicLabel = (ns: V1Namespace | undefined) => ns?.metadata?.labels?.[CLINIC_NAMESPACE_LABEL];

/** Names and labels only: a namespace's annotations and status are none of the operator's business. */
const slim = (ns: V1Namespace): V1Namespace => ({
  metadata: {
    name: ns.metadata?.name,
    resourceVersion: ns.metadata?.resourceVersion,
    ...(ns.metadata?.labels ? { labels: ns.metadata.labels } : {}),
  },
});

export function namespaceClinics(o: {
  http: KubeHttp;
  kube: KubeClient;
  /** One namespace, or '' for all. */
  watchNamespace: string;
  changed: (namespace: string) => void;
  onProblem: (what: string, err?: unknown) => void;
  resyncMs: number;
  pollMs: number;
  cache?: Pick<ResourceCacheOptions<unknown>, 'silenceMs' | 'watchTimeoutSeconds'> | undefined;
}): NamespaceClinics {
  if (o.watchNamespace)
    return new PolledNamespace(o.kube, o.watchNamespace, o.changed, o.onProblem, o.pollMs);
  const cache = new ResourceCache<V1Namespace>({
    http: o.http,
    path: '/api/v1/namespaces',
    list: () => o.kube.listNamespaces(),
    transform: slim,
    onChange: (ns, deleted, previous) => {
      if (deleted || !previous || clinicLabel(previous) !== clinicLabel(ns))
        o.changed(ns.metadata?.name ?? '');
    },
    onProblem: o.onProblem,
    resyncMs: o.resyncMs,
    ...o.cache,
  });
  return {
    // Namespaces are cluster-scoped: their cache key is "/<name>".
    clinicOf: (namespace) => clinicLabel(cache.get(`/${namespace}`)),
    start: () => cache.start(),
    stop: () => cache.stop(),
  };
}

class PolledNamespace implements NamespaceClinics {
  private clinic: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly kube: KubeClient;
  private readonly name: string;
  private readonly changed: (namespace: string) => void;
  private readonly onProblem: (what: string, err?: unknown) => void;
  private readonly pollMs: number;

  constructor(
    kube: KubeClient,
    name: string,
    changed: (namespace: string) => void,
    onProblem: (what: string, err?: unknown) => void,
    pollMs: number,
  ) {
    this.kube = kube;
    this.name = name;
    this.changed = changed;
    this.onProblem = onProblem;
    this.pollMs = pollMs;
  }

  clinicOf(namespace: string): string | undefined {
    return namespace === this.name ? this.clinic : undefined;
  }

  /** The first read must succeed: a channel is never judged against an unknown label. */
  async start(): Promise<void> {
    this.clinic = clinicLabel(await this.kube.getNamespace(this.name));
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const clinic = clinicLabel(await this.kube.getNamespace(this.name));
      if (clinic !== this.clinic) {
        this.clinic = clinic;
        this.changed(this.name);
      }
    } catch (err) {
      // The last known label stands until the namespace can be read again.
      this.onProblem('cannot read the namespace; keeping its last known clinic label', err);
    }
    this.schedule();
  }
}
