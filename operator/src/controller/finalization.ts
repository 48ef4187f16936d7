/**
 * The finalizer and the deletion policy (docs/operator.md, "Deletion"). The finalizer is added
 * to every channel; when the channel is deleted, `Retain` stops the worker and lets go, while
 * `Logout` logs the device out through the running worker, stops the worker, and only then
 * erases the stored state (a running worker could write it again) and lets go.
 *
 * Each step's outcome is recorded on the channel (progress.ts) before the next one starts, so a
 * new leader (or a restarted local operator) carries on instead of starting over. Failing
 * steps are retried until the deletion timeout, counted from the deletion request, and then
 * given up loudly (status, Event, error log): a deletion always finishes.
 */
import type { Logger } from 'pino';
import { FINALIZER, type AuditTrail, type WhatsAppChannel } from '../../../contract/index.ts';
import type { DeletionSteps } from './deletion.ts';
import type { ChannelStore, ReconcileResult, WorkerObservation } from './ports.ts';
import { PROGRESS_ANNOTATIONS, progressOf, type StepOutcome } from './progress.ts';
import type { StatusStep } from './status-step.ts';
import { RetryLater } from './work-queue.ts';
import type { WorkerStep } from './worker-step.ts';

/** While the worker stops: its runtime's change brings the channel back sooner. */
const WORKER_GONE_POLL_MS = 5_000;

export interface FinalizationDeps {
  channels: ChannelStore;
  workerStep: WorkerStep;
  statusStep: StatusStep;
  deletion: DeletionSteps;
  /** Records erasures on the audit trail (docs/security.md). */
  audit: AuditTrail;
  logger: Logger;
  /** WA_DELETION_TIMEOUT_SECONDS, in ms. */
  timeoutMs: number;
  /** The channel is released: forget what was kept for it (reports, credentials). */
  released: (channel: WhatsAppChannel) => void;
  /**
   * Whether the channel's worker reported its device unlinked by a `logout` command (and none
   * linked since): then the logout is done, even if its reply never arrived.
   */
  loggedOut?: ((channel: WhatsAppChannel) => boolean) | undefined;
  now?: (() => number) | undefined;
}

export class Finalization {
  private readonly deps: Required<FinalizationDeps>;

  constructor(deps: FinalizationDeps) {
    this.deps = { ...deps, now: deps.now ?? Date.now, loggedOut: deps.loggedOut ?? (() => false) };
  }

  /**
   * Adds the finalizer if missing. Returns the channel to go on with: as it was, or as the
   * write left it (the write's own result: fresh, and with the finalizer on it, so the worker
   * may be created in the same reconcile); undefined when the store did not return it or it
   * is not that channel any more (the channel's change brings it back).
   */
  async ensureFinalizer(channel: WhatsAppChannel): Promise<WhatsAppChannel | undefined> {
    if (channel.metadata.finalizers?.includes(FINALIZER)) return channel;
    const written = await this.deps.channels.setFinalizers(channel, [
      ...(channel.metadata.finalizers ?? []),
      FINALIZER,
    ]);
    const goOn =
      written !== undefined &&
      written.metadata.uid === channel.metadata.uid &&
      !written.metadata.deletionTimestamp &&
      written.metadata.finalizers?.includes(FINALIZER);
    return goOn ? written : undefined;
  }

  /** Runs the deletion policy one step further; releases the finalizer at the end. */
  async finalize(channel: WhatsAppChannel, worker: WorkerObservation | undefined): Promise<ReconcileResult> {
    if (!channel.metadata.finalizers?.includes(FINALIZER)) return;
    const logout = channel.spec.deletionPolicy === 'Logout';
    const progress = progressOf(channel);
    const deadline = Date.parse(channel.metadata.deletionTimestamp!) + this.deps.timeoutMs;

    if (logout && progress.logout === undefined) {
      const outcome = await this.logout(channel, worker, deadline);
      // Recorded, and the next step waits for the channel to show it.
      await this.deps.channels.annotate(channel, { [PROGRESS_ANNOTATIONS.logout]: outcome });
      return;
    }
    if (worker) {
      if (worker.activity !== 'stopping')
        await this.deps.workerStep.stop(channel, worker, 'the channel is being deleted');
      return { requeueAfterMs: WORKER_GONE_POLL_MS };
    }
    if (logout && progress.erase === undefined) {
      const erased = await this.erase(channel, deadline);
      if (erased) {
        await this.deps.channels.annotate(channel, { [PROGRESS_ANNOTATIONS.erase]: 'done' });
        return;
      }
    }
    await this.deps.channels.setFinalizers(
      channel,
      (channel.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
    );
    this.deps.released(channel);
  }

  private async logout(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    deadline: number,
  ): Promise<StepOutcome> {
    const running = worker !== undefined && worker.activity !== 'stopping';
    const reported = () => this.deps.loggedOut(channel);
    // Asked before (the reply came too late, or was lost) and done meanwhile: the worker said so.
    const outcome = reported() ? { done: true as const } : await this.deps.deletion.logout(channel, running);
    if (outcome.done || reported()) {
      void this.deps.channels.event(channel, 'Normal', 'LoggedOut', 'the device was logged out of WhatsApp');
      return 'done';
    }
    if (outcome.skipped) {
      void this.deps.channels.event(
        channel,
        'Warning',
        'LogoutSkipped',
        `${outcome.message}; if a device is still linked, remove it in WhatsApp > Linked devices`,
      );
      return 'skipped';
    }
    await this.failStep(channel, worker, deadline, 'Logout', outcome.message);
    return 'abandoned';
  }

  /** True when erased; false when given up (the deletion goes on). */
  private async erase(channel: WhatsAppChannel, deadline: number): Promise<boolean> {
    try {
      const erased = await this.deps.deletion.erase(channel);
      this.deps.audit.record({
        clinicId: channel.spec.clinicId,
        channelId: channel.spec.channelId,
        action: 'state.erased',
        outcome: 'ok',
        details: { objects: erased, resource: `${channel.metadata.namespace}/${channel.metadata.name}` },
      });
      return true;
    } catch (err) {
      const why = `erasing the stored state failed: ${String((err as Error).message ?? err)}`;
      await this.failStep(channel, undefined, deadline, 'Erase', why);
      return false;
    }
  }

  /**
   * A Logout step failed: before the deadline, show it in the status and retry (RetryLater);
   * after it, give the step up loudly (status, Event, error log) so the deletion goes on.
   */
  private async failStep(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    deadline: number,
    step: 'Logout' | 'Erase',
    why: string,
  ): Promise<void> {
    const left = deadline - this.deps.now();
    if (left > 0) {
      await this.deps.statusStep.write(channel, worker, {
        deletion: {
          reason: `${step}Failed`,
          message: `deleting: ${why}; retrying until ${new Date(deadline).toISOString()}, then the deletion goes on without it`,
          failing: true,
        },
      });
      throw new RetryLater(why, left);
    }
    const consequence =
      step === 'Logout'
        ? 'the device may still be linked: remove it in WhatsApp > Linked devices'
        : `objects may remain under the channel's prefix in ${this.deps.deletion.stateLocation(channel)}: delete them by hand`;
    const message = `deleting: ${why}; gave up after the deletion timeout; ${consequence}`;
    this.deps.logger.error(
      {
        channel: `${channel.metadata.namespace}/${channel.metadata.name}`,
        clinic: channel.spec.clinicId,
        step,
      },
      message,
    );
    await this.deps.statusStep
      .write(channel, worker, { deletion: { reason: `${step}Abandoned`, message, failing: true } })
      .catch(() => undefined);
    void this.deps.channels.event(channel, 'Warning', `${step}Abandoned`, message);
  }
}
