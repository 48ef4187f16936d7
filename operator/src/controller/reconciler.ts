/**
 * One reconcile of one channel (key = namespace/name), the same in a cluster and in local
 * mode: it reads the channel from a `ChannelStore` and its worker from a `WorkerRuntime`
 * (ports.ts), and runs the steps, each in its own module:
 *
 * 1. fresh enough? after its own writes it waits until the stores show them;
 * 2. deleting? the finalizer runs the deletion policy (finalization.ts); a Logout channel that
 *    does not own its identity is let go as Retain (identity-step.ts);
 * 3. the finalizer, added if missing (finalization.ts); the reconcile goes on with the channel
 *    the write returned (fresh by definition), so a new channel's worker is created in the
 *    same reconcile, after its finalizer is on it;
 * 4. may it run its identity? (identity-step.ts: the clinic rule, the duplicate rule): if not,
 *    no credentials and no worker, and the status says why;
 * 5. the worker's NATS credentials (credentials-step.ts);
 * 6. exactly one worker with the current spec (worker-step.ts); a replacement the operator's
 *    settings caused waits for its turn in the rollout (rollout-gate.ts);
 * 7. the status (status-step.ts), unless step 6 wrote: then the runtime's change brings the
 *    channel back with a fresh view;
 * 8. a channel being replaced in a rollout: back, or failed? (rollout-gate.ts).
 *
 * It writes only what differs, so a steady state makes no writes at all.
 */
import type { Logger } from 'pino';
import type { AuditTrail, WhatsAppChannel } from '../../../contract/index.ts';
import type { StatusReports } from '../nats/status-reports.ts';
import { CredentialsStep, type Credentials } from './credentials-step.ts';
import type { DeletionSteps } from './deletion.ts';
import { Finalization } from './finalization.ts';
import type { ClinicOfNamespace } from './identity.ts';
import { IdentityStep } from './identity-step.ts';
import {
  earliest,
  type ChannelStore,
  type ReconcileResult,
  type WorkerObservation,
  type WorkerRuntime,
} from './ports.ts';
import type { RolloutGate } from './rollout-gate.ts';
import { StatusStep } from './status-step.ts';
import { WorkerStep, type WorkerPolicy } from './worker-step.ts';

export interface ReconcilerDeps {
  channels: ChannelStore;
  workers: WorkerRuntime;
  reports: StatusReports;
  deletion: DeletionSteps;
  /** WA_DELETION_TIMEOUT_SECONDS, in ms. */
  deletionTimeoutMs: number;
  audit: AuditTrail;
  logger: Logger;
  /** Issues NATS credentials before a worker needs them; absent = they come from elsewhere. */
  credentials?: Credentials | undefined;
  /** What the platform allows a worker to run (the image allow-list); absent = anything. */
  workerPolicy?: WorkerPolicy | undefined;
  /** The simulator endpoint every worker is pointed at, if any: each status shows it. */
  testEndpoint?: string | undefined;
  /** The namespaces' clinic labels (cluster mode, clinic rule on); absent = no clinic rule. */
  clinicOf?: ClinicOfNamespace | undefined;
  /** Paces the replacements the operator's settings cause (cluster mode); absent = at once. */
  rollout?: RolloutGate | undefined;
  now?: (() => Date) | undefined;
}

export class Reconciler {
  private readonly channels: ChannelStore;
  private readonly workers: WorkerRuntime;
  private readonly finalization: Finalization;
  private readonly credentials: CredentialsStep;
  private readonly workerStep: WorkerStep;
  private readonly identity: IdentityStep;
  private readonly statusStep: StatusStep;
  private readonly rollout: RolloutGate | undefined;

  constructor(deps: ReconcilerDeps) {
    const { channels, workers, reports, logger } = deps;
    this.channels = channels;
    this.workers = workers;
    this.credentials = new CredentialsStep(deps.credentials, logger);
    this.rollout = deps.rollout;
    this.workerStep = new WorkerStep({
      channels,
      workers,
      logger,
      policy: deps.workerPolicy,
      rollout: deps.rollout,
    });
    this.identity = new IdentityStep({
      channels,
      workerStep: this.workerStep,
      clinicOf: deps.clinicOf,
      logger,
    });
    this.statusStep = new StatusStep({
      channels,
      reports,
      logger,
      now: deps.now,
      testEndpoint: deps.testEndpoint,
    });
    this.finalization = new Finalization({
      channels,
      workerStep: this.workerStep,
      statusStep: this.statusStep,
      deletion: deps.deletion,
      audit: deps.audit,
      logger,
      timeoutMs: deps.deletionTimeoutMs,
      now: deps.now && (() => deps.now!().getTime()),
      released: (channel) => {
        reports.forget(channel.spec.clinicId, channel.spec.channelId);
        this.credentials.forget(channel);
      },
      loggedOut: (channel) => reports.loggedOutByCommand(channel.spec.clinicId, channel.spec.channelId),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const channel = this.channels.get(key);
    if (!channel) {
      this.channels.forget(key);
      return; // gone: its worker went with it (owner reference, or the deletion)
    }
    const worker = this.workers.observe(channel);
    const stale = Math.max(this.channels.staleFor(key, channel), this.workers.staleFor(channel));
    if (stale > 0) return { requeueAfterMs: stale }; // the store's change will come sooner

    if (channel.metadata.deletionTimestamp) {
      if (await this.identity.retainIfNotOwner(channel)) return;
      return this.finalization.finalize(channel, worker);
    }
    return this.run(await this.finalization.ensureFinalizer(channel), worker);
  }

  /** Steps 4-8, for a channel that has its finalizer (undefined: come back with the store's change). */
  private async run(
    channel: WhatsAppChannel | undefined,
    worker: WorkerObservation | undefined,
  ): Promise<ReconcileResult> {
    if (!channel) return;
    const blocked = this.identity.check(channel);
    if (blocked) {
      if (await this.identity.hold(channel, worker, blocked)) return;
      return this.statusStep.write(channel, worker, { blocked });
    }
    // A channel the platform refuses a worker (a foreign image) gets no credentials either: no
    // worker would mount them, and a Secret in its namespace would hand the channel's NATS
    // identity to whoever can read it.
    const renewInMs = this.workerStep.refuses(channel) ? undefined : await this.credentials.ensure(channel);
    const step = await this.workerStep.ensure(channel, worker);
    if (step.startError !== undefined) {
      // Shown in the status, then retried with backoff.
      await this.statusStep.write(channel, undefined, { startError: step.startError });
      throw new Error(`cannot create the worker pod: ${step.startError}`);
    }
    if (step.blocked && !step.acted) return this.statusStep.write(channel, worker, { blocked: step.blocked });
    const written = step.acted ? undefined : await this.statusStep.writeAndShow(channel, worker);
    const due = await this.rollout?.observe(
      channel,
      step.acted ? undefined : worker,
      () => this.workers.desiredSpecHash(channel),
      written?.status,
    );
    const delays = [renewInMs, step.heldForMs, due ? due.requeueAfterMs : undefined];
    return delays.reduce((result, ms) => earliest(result, ms), written?.result);
  }
}
