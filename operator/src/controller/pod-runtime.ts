/**
 * The cluster's `WorkerRuntime` (ports.ts): one pod per channel, read from the pod cache and
 * written through the API. After each write the pod's cache entry is stale until it shows that
 * write (freshness.ts), so a stale cache never creates or deletes twice.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import type { OperatorConfig } from '../config.ts';
import { apiMessage, apiStatus, type KubeClient } from '../kube/client.ts';
import type { ResourceCache } from '../kube/resource-cache.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION, workerPodName } from '../pod.ts';
import { Freshness } from './freshness.ts';
import { observePod } from './pod-observation.ts';
import type { StartRefused, WorkerObservation, WorkerRuntime } from './ports.ts';

export class PodRuntime implements WorkerRuntime {
  private readonly fresh = new Freshness<V1Pod>();
  private readonly config: OperatorConfig;
  private readonly kube: KubeClient;
  private readonly pods: ResourceCache<V1Pod>;
  private readonly onWrite: (what: string) => void;

  constructor(deps: {
    config: OperatorConfig;
    kube: KubeClient;
    pods: ResourceCache<V1Pod>;
    onWrite?: ((what: string) => void) | undefined;
  }) {
    this.config = deps.config;
    this.kube = deps.kube;
    this.pods = deps.pods;
    this.onWrite = deps.onWrite ?? (() => {});
  }

  observe(channel: WhatsAppChannel): WorkerObservation | undefined {
    const pod = this.pods.get(podKey(channel));
    return pod ? observePod(pod) : undefined;
  }

  desiredSpecHash(channel: WhatsAppChannel): string {
    return buildWorkerPod(channel, this.config).metadata!.annotations![SPEC_HASH_ANNOTATION]!;
  }

  staleFor(channel: WhatsAppChannel): number {
    const key = podKey(channel);
    return this.fresh.staleFor(key, this.pods.get(key));
  }

  async start(channel: WhatsAppChannel): Promise<StartRefused | undefined> {
    this.onWrite('pod-create');
    let created: V1Pod | undefined;
    try {
      created = await this.kube.createPod(buildWorkerPod(channel, this.config));
    } catch (err) {
      // Quota, PodSecurity, a missing ServiceAccount…: a person must act; 5xx and network errors are retried.
      const status = apiStatus(err);
      if (status === undefined || status >= 500) throw err;
      return { refused: apiMessage(err) };
    }
    const uid = created?.metadata?.uid;
    this.fresh.expect(
      podKey(channel),
      (p) => p !== undefined && (uid === undefined || p.metadata?.uid === uid),
    );
    return undefined;
  }

  async stop(channel: WhatsAppChannel, worker: WorkerObservation): Promise<void> {
    const key = podKey(channel);
    const pod = this.pods.get(key);
    if (!pod || pod.metadata?.name !== worker.name) return;
    this.onWrite('pod-delete');
    await this.kube.deletePod(pod); // uid precondition: never a newer pod of the same name
    const uid = pod.metadata?.uid;
    this.fresh.expect(key, (p) => !p || p.metadata?.uid !== uid || Boolean(p.metadata?.deletionTimestamp));
  }
}

const podKey = (channel: WhatsAppChannel) => `${channel.metadata.namespace}/${workerPodName(channel)}`;
