/**
 * One reconcile of one channel (key = namespace/name): finalizer, deletion policy,
 * exactly one worker pod with the current spec, and the status. It reads only the
 * caches and writes only what differs, so a steady state makes no API writes.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { FINALIZER, type WhatsAppChannel } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';
import type { KubeClient } from './kube-client.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION, workerPodName } from './pod.ts';
import type { ResourceCache } from './resource-cache.ts';
import { desiredStatus, statusDiffers } from './status.ts';
import type { WorkerReports } from './worker-reports.ts';

export interface DeletionPolicyRunner {
  /** Asks the channel's worker to log out of WhatsApp; throws to be retried (bounded). */
  logout(channel: WhatsAppChannel): Promise<void>;
  /** Erases the channel's stored state; throws to be retried (bounded). */
  erase(channel: WhatsAppChannel): Promise<void>;
}

export interface ReconcilerDeps {
  config: OperatorConfig;
  kube: KubeClient;
  channels: ResourceCache<WhatsAppChannel>;
  pods: ResourceCache<V1Pod>;
  reports: WorkerReports;
  deletion: DeletionPolicyRunner;
  /** Counts API writes (metrics, and the steady-state test). */
  onWrite?: (what: string) => void;
  now?: () => Date;
}

export class Reconciler {
  private readonly d: ReconcilerDeps;
  /** Channels (by uid) whose worker already logged out during deletion. */
  private readonly loggedOut = new Set<string>();
  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const channel = this.d.channels.get(key);
    if (!channel) return; // deleted: its pod goes with it (owner reference)
    const ns = channel.metadata.namespace;
    const podKey = `${ns}/${workerPodName(channel)}`;
    const pod = this.d.pods.get(podKey);
    const write = (what: string) => this.d.onWrite?.(what);

    if (channel.metadata.deletionTimestamp) {
      if (!channel.metadata.finalizers?.includes(FINALIZER)) return;
      const logout = channel.spec.deletionPolicy === 'Logout';
      // Order matters: log out through the running worker, stop the worker, and only
      // then erase the state (a running worker could write it again) and let go.
      if (logout && !this.loggedOut.has(channel.metadata.uid!)) {
        await this.d.deletion.logout(channel);
        this.loggedOut.add(channel.metadata.uid!);
      }
      if (pod) {
        if (!pod.metadata?.deletionTimestamp) {
          write('pod-delete');
          await this.d.kube.deletePod(ns, pod.metadata!.name!);
        }
        return { requeueAfterMs: 1_000 };
      }
      if (logout) await this.d.deletion.erase(channel);
      this.loggedOut.delete(channel.metadata.uid!);
      write('finalizer');
      await this.d.kube.setFinalizers(
        channel,
        (channel.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      );
      return;
    }
    if (!channel.metadata.finalizers?.includes(FINALIZER)) {
      write('finalizer');
      await this.d.kube.setFinalizers(channel, [...(channel.metadata.finalizers ?? []), FINALIZER]);
      return; // the update comes back through the watch
    }

    let requeue: number | undefined;
    if (channel.spec.suspend) {
      if (pod && !pod.metadata?.deletionTimestamp) {
        write('pod-delete');
        await this.d.kube.deletePod(ns, pod.metadata!.name!);
      }
    } else {
      const desired = buildWorkerPod(channel, this.d.config);
      const wantHash = desired.metadata!.annotations![SPEC_HASH_ANNOTATION];
      if (!pod) {
        write('pod-create');
        await this.d.kube.createPod(desired);
      } else if (pod.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== wantHash) {
        // Replace: the old pod must be gone before the new one is created (one connection per channel).
        if (!pod.metadata?.deletionTimestamp) {
          write('pod-delete');
          await this.d.kube.deletePod(ns, pod.metadata!.name!);
        }
        requeue = 2_000;
      }
    }

    const current = this.d.pods.get(podKey);
    const report = this.d.reports.get(
      channel.spec.clinicId,
      channel.spec.channelId,
      current?.metadata?.name ?? pod?.metadata?.name,
    );
    const status = desiredStatus({
      channel,
      pod: channel.spec.suspend ? undefined : current,
      report: channel.spec.suspend ? undefined : report,
      now: (this.d.now?.() ?? new Date()).toISOString(),
    });
    if (statusDiffers(channel.status, status)) {
      write('status');
      await this.d.kube.applyStatus(channel, status);
      if (status.phase !== channel.status?.phase) {
        // An Event per phase transition; losing one is not worth failing the reconcile.
        write('event');
        const type = status.phase === 'Error' ? 'Warning' : 'Normal';
        await this.d.kube
          .emitEvent(channel, type, status.phase ?? 'Pending', status.message ?? '')
          .catch(() => undefined);
      }
    }
    return requeue === undefined ? undefined : { requeueAfterMs: requeue };
  }
}
