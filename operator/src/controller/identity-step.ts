/**
 * The identity step, run before the credentials and the worker (docs/operator.md): a channel
 * that breaks the clinic rule or duplicates an identity owned by an older channel
 * (identity.ts) gets no credentials and no worker; a worker it already has is stopped. Its
 * stored state is kept: nothing is logged out or erased, so a namespace relabelled back, or
 * the owner's deletion, lets it run again.
 *
 * On deletion, a `deletionPolicy: Logout` channel that does not own its identity is treated as
 * `Retain` (an Event says why): its Logout would log out, and its erasure erase, the session
 * of the channel that does own it. The decision is recorded as the deletion's progress, so it
 * holds even if the owner goes away while the duplicate is being deleted.
 */
import type { Logger } from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { CONDITION_TYPES } from '../../../contract/index.ts';
import { identityBlock, type ClinicOfNamespace, type IdentityBlock } from './identity.ts';
import type { ChannelStore, WorkerObservation } from './ports.ts';
import { PROGRESS_ANNOTATIONS, progressOf } from './progress.ts';
import type { WorkerStep } from './worker-step.ts';

export class IdentityStep {
  private readonly channels: ChannelStore;
  private readonly workerStep: WorkerStep;
  private readonly clinicOf: ClinicOfNamespace | undefined;
  private readonly logger: Logger;

  constructor(deps: {
    channels: ChannelStore;
    workerStep: WorkerStep;
    /** The namespaces' clinic labels; absent = no clinic rule (local mode, or switched off). */
    clinicOf?: ClinicOfNamespace | undefined;
    logger: Logger;
  }) {
    this.channels = deps.channels;
    this.workerStep = deps.workerStep;
    this.clinicOf = deps.clinicOf;
    this.logger = deps.logger;
  }

  /** Why this channel may not run its identity now; undefined if it may. */
  check(channel: WhatsAppChannel): IdentityBlock | undefined {
    const { clinicId, channelId } = channel.spec;
    return identityBlock(channel, this.channels.claimsOf(clinicId, channelId), this.clinicOf);
  }

  /**
   * Keeps a blocked channel without a worker: stops the one it has (true: the runtime's change
   * brings the channel back). Otherwise the status is written next: when the block begins
   * (Ready does not show it yet) it is also an Event, once.
   */
  async hold(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    block: IdentityBlock,
  ): Promise<boolean> {
    if (worker && worker.activity !== 'stopping') {
      await this.workerStep.stop(channel, worker, block.reason);
      return true;
    }
    const ready = channel.status?.conditions?.find((c) => c.type === CONDITION_TYPES.ready);
    if (ready?.reason !== block.reason)
      void this.channels.event(channel, 'Warning', block.reason, block.message);
    return false;
  }

  /**
   * At the start of a deletion: a Logout channel that does not own its identity is let go as
   * Retain. True if it wrote (the channel's change brings it back).
   */
  async retainIfNotOwner(channel: WhatsAppChannel): Promise<boolean> {
    if (channel.spec.deletionPolicy !== 'Logout') return false;
    const progress = progressOf(channel);
    if (progress.logout !== undefined || progress.erase !== undefined) return false;
    const block = this.check(channel);
    if (!block) return false;
    await this.channels.annotate(channel, {
      [PROGRESS_ANNOTATIONS.logout]: 'skipped',
      [PROGRESS_ANNOTATIONS.erase]: 'skipped',
    });
    const message =
      `deletionPolicy Logout is treated as Retain (${block.reason}): this channel does not own ` +
      `${channel.spec.clinicId}/${channel.spec.channelId}, so its session is neither logged out nor erased`;
    this.logger.info({ channel: `${channel.metadata.namespace}/${channel.metadata.name}` }, message);
    void this.channels.event(channel, 'Warning', 'DeletionPolicyRetained', message);
    return true;
  }
}
