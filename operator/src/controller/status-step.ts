/**
 * The status step: computes the channel's status (status.ts) from the channel, the neutral
 * observation of its worker and that worker's last report, and writes it only if it differs,
 * so a steady state writes nothing. A phase change is also an Event, except the steps of a
 * routine start-up (see `announcesPhase`).
 */
import type { Logger } from 'pino';
import type { WhatsAppChannel, WhatsAppChannelStatus } from '../../../contract/index.ts';
import type { StatusReports } from '../nats/status-reports.ts';
import type { ChannelStore, ReconcileResult, WorkerObservation } from './ports.ts';
import { desiredStatus, statusDiffers, type DeletionProgress } from './status.ts';

/** How soon to try again when the worker's last status cannot be read from JetStream. */
const REPORTS_RETRY_MS = 5_000;

export interface StatusInputs {
  /** Why the worker could not be started, this reconcile. */
  startError?: string | undefined;
  /** The deletion step in progress. */
  deletion?: DeletionProgress | undefined;
  /** The channel may not have a worker (its identity: identity-step.ts; its image: worker-step.ts): no worker, and why. */
  blocked?: { reason: string; message: string } | undefined;
}

export class StatusStep {
  private readonly channels: ChannelStore;
  private readonly reports: StatusReports;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly testEndpoint: string | undefined;

  constructor(deps: {
    channels: ChannelStore;
    reports: StatusReports;
    logger: Logger;
    now?: (() => Date) | undefined;
    testEndpoint?: string | undefined;
  }) {
    this.channels = deps.channels;
    this.reports = deps.reports;
    this.logger = deps.logger;
    this.now = deps.now ?? (() => new Date());
    this.testEndpoint = deps.testEndpoint;
  }

  async write(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    inputs: StatusInputs = {},
  ): Promise<ReconcileResult> {
    return (await this.writeAndShow(channel, worker, inputs)).result;
  }

  /** `write`, also returning the status it computed (none when the worker's report cannot be read). */
  async writeAndShow(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    inputs: StatusInputs = {},
  ): Promise<{ result: ReconcileResult; status?: WhatsAppChannelStatus }> {
    const { clinicId, channelId, suspend } = channel.spec;
    const live = worker && worker.activity !== 'stopping' && !suspend && !inputs.blocked ? worker : undefined;
    const identity = live?.identity;
    let report = this.reports.get(clinicId, channelId, identity);
    // (A deleting channel's status does not depend on the worker's report.)
    if (!report && identity && !inputs.deletion) {
      try {
        await this.reports.bootstrap(clinicId, channelId);
      } catch (err) {
        // Without NATS the worker's state is unknown: keep the status as it is, try again soon.
        this.logger.warn(
          { channel: `${channel.metadata.namespace}/${channel.metadata.name}`, err: String(err) },
          'cannot read the last status from JetStream',
        );
        return { result: { requeueAfterMs: REPORTS_RETRY_MS } };
      }
      report = this.reports.get(clinicId, channelId, identity);
    }
    const status = desiredStatus({
      channel,
      worker: suspend ? undefined : worker,
      report: live ? report : undefined,
      startError: inputs.startError,
      deletion: inputs.deletion,
      blocked: inputs.blocked,
      testEndpoint: this.testEndpoint,
      now: this.now().toISOString(),
    });
    if (!statusDiffers(channel.status, status)) return { result: undefined, status };
    await this.channels.applyStatus(channel, status);
    if (announcesPhase(channel.status?.phase, status.phase)) {
      const warn = status.phase === 'Error' || status.phase === 'Disconnected';
      void this.channels.event(
        channel,
        warn ? 'Warning' : 'Normal',
        status.phase ?? 'Pending',
        status.message ?? '',
      );
    }
    return { result: undefined, status };
  }
}

/**
 * Whether a phase change is also an Event. Events mark what a person may want to know about: a
 * QR code to scan, a pairing, a loss of connection or an error, a recovery, a suspension, a
 * restart. A routine start-up is not among them: a new or restarted channel going `Pending` →
 * `Connecting` → `Connected` with its saved session is in the status (phase, the `Ready`
 * condition's transition time, `lastConnectedTime`) and in `kubectl get wac`; as Events it cost up
 * to two API writes per channel for nothing a person acts on (issue 18). The restart itself is
 * an Event (`Connected` → `Pending`), and so is `Connected` after `QRRequired`/`Pairing` (paired)
 * or after `Disconnected`/`Error` (recovered).
 */
export function announcesPhase(before: string | undefined, after: string | undefined): boolean {
  const from = ROUTINE_START.indexOf(before ?? 'Pending');
  const to = ROUTINE_START.indexOf(after ?? 'Pending');
  if (before === undefined && to >= 0) return false; // a new channel's first status on the way
  if (before !== undefined && before === after) return false;
  return !(from >= 0 && to > from); // forward along the start-up: quiet; anything else: an Event
}

/** The phases of a start-up that needs no person (a saved session being restored), in order. */
const ROUTINE_START: readonly string[] = ['Pending', 'Connecting', 'Connected'];
