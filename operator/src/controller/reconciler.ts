/**
 * One reconcile of one channel (key = namespace/name): finalizer, deletion policy,
 * exactly one worker pod with the current spec, and the status. It reads only the
 * caches and writes only what differs, so a steady state makes no API writes. After
 * each write it waits for its cache to show that write before deciding again
 * (freshness.ts), so a stale cache never repeats a write.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { FINALIZER, type WhatsAppChannel } from '../../../contract/index.ts';
import type { OperatorConfig } from '../config.ts';
import { apiMessage, apiStatus, type KubeClient } from '../kube/client.ts';
import { keyOf, type ResourceCache } from '../kube/resource-cache.ts';
import type { StatusReports } from '../nats/status-reports.ts';
import type { AuditTrail } from '../../../contract/index.ts';
import type { CredentialProvisioner } from '../nats/credentials-provisioner.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION, workerIdentity, workerPodName } from '../pod.ts';
import type { DeletionSteps } from './deletion.ts';
import { Freshness } from './freshness.ts';
import { desiredStatus, podEnded, statusDiffers, type DeletionProgress } from './status.ts';
import { RetryLater } from './work-queue.ts';

export interface ReconcilerDeps {
  config: OperatorConfig;
  kube: KubeClient;
  channels: ResourceCache<WhatsAppChannel>;
  pods: ResourceCache<V1Pod>;
  reports: StatusReports;
  deletion: DeletionSteps;
  logger: Logger;
  /** Records erasures on the audit trail (docs/security.md). */
  audit: AuditTrail;
  /** Issues NATS credentials before a pod needs them (WA_NATS_ISSUER_DIR); absent = Secrets come from elsewhere. */
  credentials?: Pick<CredentialProvisioner, 'ensure' | 'forget'>;
  /** Counts API writes by kind (metrics, and the steady-state checks). */
  onWrite?: (what: string) => void;
  now?: () => Date;
}

type Result = { requeueAfterMs?: number } | void;

const CREDENTIALS_RETRY_MS = 5_000;

/** The sooner of a result's requeue and another delay. */
function earliest(result: Result, ms: number | undefined): Result {
  const delays = [result?.requeueAfterMs, ms].filter((x): x is number => x !== undefined);
  return delays.length ? { requeueAfterMs: Math.min(...delays) } : undefined;
}
type StepState = 'pending' | 'done' | 'skipped' | 'abandoned';

export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly channelFresh = new Freshness<WhatsAppChannel>();
  private readonly podFresh = new Freshness<V1Pod>();
  /** The last pod-create failure per channel key (shown in status until a create succeeds). */
  private readonly createErrors = new Map<string, string>();
  /** Channels whose pod is being replaced after a spec change (for the Event when the new one starts). */
  private readonly replacing = new Set<string>();
  /** Progress of the Logout steps per channel uid. */
  private readonly deletions = new Map<string, { logout: StepState; erase: StepState }>();

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
  }

  async reconcile(key: string): Promise<Result> {
    const channel = this.d.channels.get(key);
    if (!channel) {
      this.channelFresh.forget(key);
      this.createErrors.delete(key);
      this.replacing.delete(key);
      return; // gone: its pod goes with it (owner reference)
    }
    const podKey = `${channel.metadata.namespace}/${workerPodName(channel)}`;
    const pod = this.d.pods.get(podKey);
    const stale = Math.max(this.channelFresh.staleFor(key, channel), this.podFresh.staleFor(podKey, pod));
    if (stale > 0) return { requeueAfterMs: stale }; // the watch event will come sooner

    if (channel.metadata.deletionTimestamp) return this.finalize(channel, pod);
    if (!channel.metadata.finalizers?.includes(FINALIZER)) {
      await this.writeChannel(channel, 'finalizer', () =>
        this.d.kube.setFinalizers(channel, [...(channel.metadata.finalizers ?? []), FINALIZER]),
      );
      return;
    }
    // Credentials before the pod that mounts them; renewed before they expire.
    const renewInMs = channel.spec.suspend ? undefined : await this.ensureCredentials(channel);
    const acted = await this.ensurePod(channel, pod, podKey);
    // After a write the pod's watch event brings the channel back, with a fresh view.
    const result = acted ? undefined : await this.writeStatus(channel, pod);
    return earliest(result, renewInMs);
  }

  /**
   * Issues the channel's NATS credentials (WA_NATS_ISSUER_DIR); ms until one is due for renewal.
   * A failure (NATS away, a Secret write refused) never stops pod management: it is logged and
   * tried again soon.
   */
  private async ensureCredentials(channel: WhatsAppChannel): Promise<number | undefined> {
    if (!this.d.credentials) return undefined;
    try {
      return Math.max(1_000, await this.d.credentials.ensure(channel));
    } catch (err) {
      this.d.logger.warn(
        { channel: keyOf(channel), err: String(err) },
        'cannot issue the NATS credentials yet; trying again',
      );
      return CREDENTIALS_RETRY_MS;
    }
  }

  /** Makes the pod match the spec. True if it wrote something (then the status waits for the cache). */
  private async ensurePod(
    channel: WhatsAppChannel,
    pod: V1Pod | undefined,
    podKey: string,
  ): Promise<boolean> {
    const key = keyOf(channel);
    const ours =
      !pod || pod.metadata?.ownerReferences?.some((o) => o.controller && o.uid === channel.metadata.uid);
    if (pod?.metadata?.deletionTimestamp) return false; // wait until it is gone: never two pods at once
    if (channel.spec.suspend) {
      if (pod) await this.deletePod(channel, pod, podKey, 'suspended');
      return pod !== undefined;
    }
    if (pod && !ours) {
      // A leftover of an earlier channel of the same name: it must go first.
      await this.deletePod(channel, pod, podKey, 'left over from an earlier channel of the same name');
      return true;
    }
    const desired = buildWorkerPod(channel, this.d.config);
    if (!pod) {
      this.d.onWrite?.('pod-create');
      let created: V1Pod | undefined;
      try {
        created = await this.d.kube.createPod(desired);
      } catch (err) {
        // Quota, PodSecurity, a missing ServiceAccount…: show it in the status, then back off.
        if (apiStatus(err) === undefined || apiStatus(err)! >= 500) throw err;
        const message = apiMessage(err);
        this.createErrors.set(key, message);
        await this.writeStatus(channel, undefined);
        throw new Error(`cannot create the worker pod: ${message}`);
      }
      this.createErrors.delete(key);
      const uid = created?.metadata?.uid;
      this.podFresh.expect(podKey, (p) => p !== undefined && (uid === undefined || p.metadata?.uid === uid));
      if (this.replacing.delete(key))
        void this.event(
          channel,
          'Normal',
          'PodReplaced',
          `the worker pod ${desired.metadata!.name} was started with the new spec`,
        );
      else if (channel.status?.workerPod && created)
        void this.event(
          channel,
          'Normal',
          'PodRecreated',
          `the worker pod ${desired.metadata!.name} was missing and was created again`,
        );
      return true;
    }
    if (podEnded(pod)) {
      await this.deletePod(
        channel,
        pod,
        podKey,
        `the pod ended (${pod.status?.reason ?? pod.status?.phase})`,
      );
      return true;
    }
    if (
      pod.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !==
      desired.metadata!.annotations![SPEC_HASH_ANNOTATION]
    ) {
      // Replace: the old pod must be gone before the new one is created (one connection per channel).
      await this.deletePod(channel, pod, podKey, 'the spec changed');
      this.replacing.add(key);
      void this.event(
        channel,
        'Normal',
        'PodReplacing',
        `the spec changed: stopping ${pod.metadata?.name}, then starting a new worker pod`,
      );
      return true;
    }
    return false;
  }

  private async deletePod(channel: WhatsAppChannel, pod: V1Pod, podKey: string, why: string): Promise<void> {
    this.d.onWrite?.('pod-delete');
    await this.d.kube.deletePod(pod);
    const uid = pod.metadata?.uid;
    this.podFresh.expect(
      podKey,
      (p) => !p || p.metadata?.uid !== uid || Boolean(p.metadata?.deletionTimestamp),
    );
    this.d.logger.info({ channel: keyOf(channel), pod: pod.metadata?.name, why }, 'deleting the worker pod');
  }

  private async writeStatus(
    channel: WhatsAppChannel,
    pod: V1Pod | undefined,
    deletion?: DeletionProgress,
  ): Promise<Result> {
    const { clinicId, channelId } = channel.spec;
    const live = pod && !pod.metadata?.deletionTimestamp && !channel.spec.suspend ? pod : undefined;
    const identity = workerIdentity(live);
    let report = this.d.reports.get(clinicId, channelId, identity);
    // (A deleting channel's status does not depend on the worker's report.)
    if (!report && identity && !deletion) {
      try {
        await this.d.reports.bootstrap(clinicId, channelId);
      } catch (err) {
        // Without NATS the worker's state is unknown: keep the status as it is, try again soon.
        this.d.logger.warn(
          { channel: keyOf(channel), err: String(err) },
          'cannot read the last status from JetStream',
        );
        return { requeueAfterMs: 5_000 };
      }
      report = this.d.reports.get(clinicId, channelId, identity);
    }
    const status = desiredStatus({
      channel,
      pod: channel.spec.suspend ? undefined : pod,
      report: live ? report : undefined,
      podCreateError: this.createErrors.get(keyOf(channel)),
      deletion,
      now: (this.d.now?.() ?? new Date()).toISOString(),
    });
    if (!statusDiffers(channel.status, status)) return;
    await this.writeChannel(channel, 'status', () => this.d.kube.applyStatus(channel, status));
    if (status.phase !== channel.status?.phase) {
      const warn = status.phase === 'Error' || status.phase === 'Disconnected';
      void this.event(channel, warn ? 'Warning' : 'Normal', status.phase ?? 'Pending', status.message ?? '');
    }
  }

  /** The finalizer: run the deletion policy, then let the channel go. */
  private async finalize(channel: WhatsAppChannel, pod: V1Pod | undefined): Promise<Result> {
    if (!channel.metadata.finalizers?.includes(FINALIZER)) return;
    const uid = channel.metadata.uid!;
    const logout = channel.spec.deletionPolicy === 'Logout';
    const progress = this.deletions.get(uid) ?? { logout: 'pending', erase: 'pending' };
    this.deletions.set(uid, progress);
    const deadline = Date.parse(channel.metadata.deletionTimestamp!) + this.d.config.deletion.timeoutMs;
    const podKey = `${channel.metadata.namespace}/${workerPodName(channel)}`;

    // Order matters: log out through the running worker, stop the worker, and only then
    // erase the state (a running worker could write it again) and let go.
    if (logout && progress.logout === 'pending') {
      const running = pod !== undefined && !pod.metadata?.deletionTimestamp;
      const outcome = await this.d.deletion.logout(channel, running);
      if (outcome.done) {
        progress.logout = 'done';
        void this.event(channel, 'Normal', 'LoggedOut', 'the device was logged out of WhatsApp');
      } else if (outcome.skipped) {
        progress.logout = 'skipped';
        void this.event(
          channel,
          'Warning',
          'LogoutSkipped',
          `${outcome.message}; if a device is still linked, remove it in WhatsApp > Linked devices`,
        );
      } else {
        const gaveUp = await this.failStep(channel, pod, deadline, 'Logout', outcome.message);
        if (!gaveUp) return;
        progress.logout = 'abandoned';
      }
    }
    if (pod) {
      if (!pod.metadata?.deletionTimestamp)
        await this.deletePod(channel, pod, podKey, 'the channel is being deleted');
      return { requeueAfterMs: 5_000 }; // the pod's events bring the channel back sooner
    }
    if (logout && progress.erase === 'pending') {
      try {
        const erased = await this.d.deletion.erase(channel);
        progress.erase = 'done';
        this.d.audit.record({
          clinicId: channel.spec.clinicId,
          channelId: channel.spec.channelId,
          action: 'state.erased',
          outcome: 'ok',
          details: { objects: erased, resource: `${channel.metadata.namespace}/${channel.metadata.name}` },
        });
      } catch (err) {
        const gaveUp = await this.failStep(
          channel,
          undefined,
          deadline,
          'Erase',
          `erasing the stored state failed: ${String((err as Error).message ?? err)}`,
        );
        if (!gaveUp) return;
        progress.erase = 'abandoned';
      }
    }
    await this.writeChannel(channel, 'finalizer', () =>
      this.d.kube.setFinalizers(
        channel,
        (channel.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      ),
    );
    this.deletions.delete(uid);
    this.d.reports.forget(channel.spec.clinicId, channel.spec.channelId);
    this.d.credentials?.forget(channel);
  }

  /**
   * A Logout step failed: before the deadline, show it in the status and retry (backoff);
   * after it, give the step up loudly (status, Event, error log) so the deletion goes on.
   * Returns true when the step is given up.
   */
  private async failStep(
    channel: WhatsAppChannel,
    pod: V1Pod | undefined,
    deadline: number,
    step: 'Logout' | 'Erase',
    why: string,
  ): Promise<boolean> {
    const left = deadline - Date.now();
    if (left > 0) {
      await this.writeStatus(channel, pod, {
        reason: `${step}Failed`,
        message: `deleting: ${why}; retrying until ${new Date(deadline).toISOString()}, then the deletion goes on without it`,
        failing: true,
      });
      throw new RetryLater(why, left);
    }
    const consequence =
      step === 'Logout'
        ? 'the device may still be linked: remove it in WhatsApp > Linked devices'
        : `objects may remain under the channel's prefix in s3://${channel.spec.storage?.bucket ?? this.d.config.s3.bucket}: delete them by hand`;
    const message = `deleting: ${why}; gave up after the deletion timeout; ${consequence}`;
    this.d.logger.error({ channel: keyOf(channel), clinic: channel.spec.clinicId, step }, message);
    await this.writeStatus(channel, pod, { reason: `${step}Abandoned`, message, failing: true }).catch(
      () => undefined,
    );
    void this.event(channel, 'Warning', `${step}Abandoned`, message);
    return true;
  }

  /** A write to the channel; afterwards its cache entry is stale until it shows a newer version. */
  private async writeChannel(
    channel: WhatsAppChannel,
    what: string,
    write: () => Promise<WhatsAppChannel>,
  ): Promise<void> {
    this.d.onWrite?.(what);
    const before = channel.metadata.resourceVersion;
    await write();
    this.channelFresh.expect(keyOf(channel), (c) => !c || c.metadata.resourceVersion !== before);
  }

  /** Events are best effort (a terminating namespace refuses them): never fail a reconcile for one. */
  private async event(
    channel: WhatsAppChannel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    this.d.onWrite?.('event');
    await this.d.kube
      .createEvent(channel, type, reason, message)
      .catch((err: unknown) =>
        this.d.logger.debug({ channel: keyOf(channel), reason, err: apiMessage(err) }, 'event not recorded'),
      );
  }
}
