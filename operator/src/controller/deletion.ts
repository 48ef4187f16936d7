/**
 * The two steps of the `Logout` deletion policy that leave the cluster: asking the
 * worker to log the device out (NATS request/reply on `wa.<clinic>.<channel>.cmd.logout`)
 * and erasing the stored state (S3). Each step either succeeds, or says why it did not
 * with a reason constant; finalization.ts decides about retries (bounded by
 * the deletion timeout).
 */
import type { NatsConnection } from 'nats';
import {
  channelSubjects,
  classifyNatsError,
  COMMAND_ERROR_CODES,
  validatePayload,
  type WhatsAppChannel,
} from '../../../contract/index.ts';
import type { ChannelLocation, ChannelStateEraser } from '../storage/state-eraser.ts';

export type LogoutOutcome =
  /** The worker logged the device out. */
  | { done: true }
  /** There is nothing to log out with: no worker runs (the WhatsApp link stays until removed on the phone). */
  | { done: false; skipped: true; message: string }
  /** It failed now; worth retrying. */
  | { done: false; skipped: false; message: string };

export interface DeletionSteps {
  logout(channel: WhatsAppChannel, workerRunning: boolean): Promise<LogoutOutcome>;
  /** Erases the channel's state; throws with a readable message on failure. */
  erase(channel: WhatsAppChannel): Promise<number>;
  /** Where the channel's state is kept (`s3://bucket`, a folder), for a person to clean up by hand. */
  stateLocation(channel: WhatsAppChannel): string;
}

export class LogoutAndErase implements DeletionSteps {
  private readonly nc: () => NatsConnection | undefined;
  private readonly eraser: ChannelStateEraser;
  private readonly defaults: { bucket: string; prefix: string };
  private readonly timeoutMs: number;

  constructor(o: {
    nc: () => NatsConnection | undefined;
    eraser: ChannelStateEraser;
    defaults: { bucket: string; prefix: string };
    timeoutMs: number;
  }) {
    this.nc = o.nc;
    this.eraser = o.eraser;
    this.defaults = o.defaults;
    this.timeoutMs = o.timeoutMs;
  }

  async logout(channel: WhatsAppChannel, workerRunning: boolean): Promise<LogoutOutcome> {
    const { clinicId, channelId } = channel.spec;
    let reply: unknown;
    const nc = this.nc();
    if (!nc) return { done: false, skipped: false, message: 'logout request failed: NATS is not connected' };
    try {
      const msg = await nc.request(channelSubjects(clinicId, channelId).command('logout'), '{"v":1}', {
        timeout: this.timeoutMs,
      });
      reply = msg.json();
    } catch (err) {
      const failure = classifyNatsError(err);
      // No responders: nobody serves the channel's commands.
      if (failure === 'no-responders' && !workerRunning)
        return { done: false, skipped: true, message: 'no worker was running to log the device out' };
      const why =
        failure === 'no-responders'
          ? 'the worker does not answer commands yet'
          : failure === 'timeout'
            ? `no reply within ${this.timeoutMs} ms`
            : `NATS: ${(err as Error).message}`;
      return { done: false, skipped: false, message: `logout request failed: ${why}` };
    }
    const checked = validatePayload('command-reply', reply);
    if (!checked.ok)
      return { done: false, skipped: false, message: 'the worker sent an invalid logout reply' };
    const body = checked.value;
    if (body.ok) return { done: true };
    if (body.error.code === COMMAND_ERROR_CODES.notConnected && !channel.status?.account)
      return { done: false, skipped: true, message: 'the channel was never linked: nothing to log out' };
    return {
      done: false,
      skipped: false,
      message: `the worker refused the logout: ${body.error.code}: ${body.error.message}`,
    };
  }

  erase(channel: WhatsAppChannel): Promise<number> {
    return this.eraser.erase(this.location(channel));
  }

  stateLocation(channel: WhatsAppChannel): string {
    return this.eraser.describe(this.location(channel));
  }

  private location(channel: WhatsAppChannel): ChannelLocation {
    const { clinicId, channelId, storage } = channel.spec;
    return {
      bucket: storage?.bucket ?? this.defaults.bucket,
      prefix: storage?.prefix ?? this.defaults.prefix,
      clinicId,
      channelId,
    };
  }
}
