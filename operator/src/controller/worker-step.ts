/**
 * The worker step: exactly one worker per channel, running the current spec, whatever the
 * runtime (a pod, or a local process). Suspended → stop it. Missing → start it. Stopping →
 * wait (never two at once: the new one starts only after the old one is gone). Ended
 * (evicted, failed) or running an older spec → stop it, then start a new one. A worker left
 * over from an earlier channel of the same name is stopped first.
 *
 * It writes no status: it says whether it acted (then the status waits for the runtime to
 * show it) and why a start was refused (which the status shows).
 */
import type { Logger } from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { workerPodName } from '../pod.ts';
import type { ChannelStore, WorkerObservation, WorkerRuntime } from './ports.ts';
import { PROGRESS_ANNOTATIONS, progressOf } from './progress.ts';
import type { RolloutGate } from './rollout-gate.ts';

export interface WorkerStepResult {
  /** It wrote something: the status waits for the runtime to show it. */
  acted: boolean;
  /** The start was refused for a reason a person must fix (quota, PodSecurity…). */
  startError?: string;
  /** The operator itself refuses this channel a worker (its image: worker-image.ts), and why. */
  blocked?: WorkerBlock;
  /** The rollout holds this channel's replacement for now: come back after this long at the latest. */
  heldForMs?: number;
}

/** Why a channel may not have a worker: Ready's reason, and a message that says what to do. */
export interface WorkerBlock {
  reason: string;
  message: string;
}

/** The platform's rules on what a worker may run; undefined = the channel may have its worker. */
export type WorkerPolicy = (channel: WhatsAppChannel) => WorkerBlock | undefined;

export class WorkerStep {
  private readonly channels: ChannelStore;
  private readonly workers: WorkerRuntime;
  private readonly logger: Logger;
  private readonly policy: WorkerPolicy;
  private readonly rollout: RolloutGate | undefined;

  constructor(deps: {
    channels: ChannelStore;
    workers: WorkerRuntime;
    logger: Logger;
    policy?: WorkerPolicy | undefined;
    /** Paces replacements caused by the operator's settings; absent = replace at once. */
    rollout?: RolloutGate | undefined;
  }) {
    this.channels = deps.channels;
    this.workers = deps.workers;
    this.logger = deps.logger;
    this.policy = deps.policy ?? (() => undefined);
    this.rollout = deps.rollout;
  }

  /** Why the platform refuses this channel a worker (its image…), if it does: no credentials either. */
  refuses(channel: WhatsAppChannel): WorkerBlock | undefined {
    return this.policy(channel);
  }

  async ensure(channel: WhatsAppChannel, worker: WorkerObservation | undefined): Promise<WorkerStepResult> {
    if (worker?.activity === 'stopping') return { acted: false }; // wait until it is gone
    if (channel.spec.suspend) {
      if (worker) await this.stop(channel, worker, 'suspended');
      return { acted: worker !== undefined };
    }
    const blocked = this.policy(channel);
    if (blocked) {
      // A worker of an earlier, allowed spec goes too: the channel asks for what may not run.
      if (worker) await this.stop(channel, worker, blocked.reason);
      return { acted: worker !== undefined, blocked };
    }
    if (!worker) return this.start(channel);
    if (worker.ownerUid !== channel.metadata.uid) {
      await this.stop(channel, worker, 'left over from an earlier channel of the same name');
      return { acted: true };
    }
    if (worker.activity === 'ended') {
      await this.stop(channel, worker, `the pod ended (${worker.reason ?? 'Failed'})`);
      return { acted: true };
    }
    if (worker.specHash !== this.workers.desiredSpecHash(channel)) {
      // The same channel generation (or a pod that does not say): the operator's settings
      // changed, not the channel. Such a replacement waits for its turn in the rollout; a
      // change the channel's owner made goes at once.
      const byOperator =
        worker.channelGeneration === undefined ||
        worker.channelGeneration >= (channel.metadata.generation ?? 0);
      const gate = this.rollout && byOperator ? this.rollout.admit(channel) : undefined;
      if (gate && !gate.admitted) return { acted: false, heldForMs: gate.retryMs };
      const mark = gate?.admitted ? gate.patch : undefined;
      // Recorded on the channel first, so the Event of the new worker says "replaced" even
      // if another leader starts it.
      await this.channels.annotate(
        channel,
        { [PROGRESS_ANNOTATIONS.replacing]: worker.specHash ?? '', ...mark?.annotations },
        mark?.labels,
      );
      await this.stop(channel, worker, 'the spec changed');
      void this.channels.event(
        channel,
        'Normal',
        'PodReplacing',
        `the spec changed: stopping ${worker.name}, then starting a new worker pod`,
      );
      return { acted: true };
    }
    this.rollout?.settled(channel);
    return { acted: false };
  }

  /** Stops the worker (the deletion's step too). */
  async stop(channel: WhatsAppChannel, worker: WorkerObservation, why: string): Promise<void> {
    await this.workers.stop(channel, worker);
    this.logger.info(
      { channel: `${channel.metadata.namespace}/${channel.metadata.name}`, pod: worker.name, why },
      'deleting the worker pod',
    );
  }

  private async start(channel: WhatsAppChannel): Promise<WorkerStepResult> {
    const refused = await this.workers.start(channel);
    if (refused) return { acted: false, startError: refused.refused };
    const name = workerPodName(channel);
    if (progressOf(channel).replacing !== undefined) {
      await this.channels.annotate(channel, { [PROGRESS_ANNOTATIONS.replacing]: null });
      void this.channels.event(
        channel,
        'Normal',
        'PodReplaced',
        `the worker pod ${channel.status?.workerPod ?? name} was started with the new spec`,
      );
    } else if (channel.status?.workerPod)
      void this.channels.event(
        channel,
        'Normal',
        'PodRecreated',
        `the worker pod ${channel.status.workerPod} was missing and was created again`,
      );
    return { acted: true };
  }
}
