/**
 * The NATS connection and the JetStream streams the channel's events go to.
 */
import type { JetStreamManager, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import {
  CLINIC_STREAM_RETENTION_DAYS,
  classifyNatsError,
  clinicStreamName,
  ensureClinicStream,
  ensureIdempotencyBucket,
  idempotencyStreamName,
  openNatsConnection,
} from '../../../contract/index.ts';

export interface NatsHandle {
  nc: NatsConnection;
  /** False between a disconnect and the next reconnect. */
  connected(): boolean;
}

export async function connectNats(
  opts: { servers: string[]; credsFile: string | undefined; name: string; inboxPrefix?: string },
  logger: Logger,
): Promise<NatsHandle> {
  const nc = await openNatsConnection({
    url: opts.servers,
    name: opts.name,
    // Re-read at every reconnect: the operator rotates it (contract/nats-connection.ts).
    credsFile: opts.credsFile,
    // Never give up: while NATS is away the outbox holds events and the session stops
    // acknowledging; the connection must come back by itself.
    reconnect: 'forever',
    waitOnFirstConnect: true,
    tuning: {
      // Replies to this worker (JetStream acks) go to a prefix only its NATS user may read.
      ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      reconnectTimeWait: 1_000,
      pingInterval: 10_000,
      maxPingOut: 3,
    },
  });
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') up = false;
      if (s.type === 'reconnect') up = true;
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        logger.warn({ nats: s.type, data: String(s.data) }, `NATS ${s.type}`);
      }
    }
  })();
  return { nc, connected: () => up && !nc.isClosed() };
}

/**
 * The clinic's stream and backend consumer, created or brought up to date when this worker's
 * NATS user may do so (an open or self-managed NATS). With credentials issued by the operator it
 * may only look, and the operator has already done it: a refusal is logged and the worker goes on.
 */
export async function ensureClinicStreamAtStart(
  jsm: JetStreamManager,
  clinicId: string,
  logger: Logger,
  retentionDays = CLINIC_STREAM_RETENTION_DAYS,
): Promise<void> {
  try {
    const result = await ensureClinicStream(jsm, clinicId, retentionDays);
    if (result.stream !== 'unchanged' || result.consumer !== 'unchanged')
      logger.info(
        { name: clinicStreamName(clinicId), stream: result.stream, consumer: result.consumer },
        'clinic stream and backend consumer set up',
      );
  } catch (err) {
    logger.warn(
      { err, stream: clinicStreamName(clinicId) },
      'cannot set up the clinic stream; assuming it is managed elsewhere',
    );
  }
}

/**
 * The clinic's send log (contract/idempotency-bucket.ts), created or brought to this window when
 * this worker's NATS user may manage streams. With issued credentials it may not even look (only
 * its own channel's keys): the operator made the bucket, and the refusal is expected.
 */
export async function ensureSendLogAtStart(
  jsm: JetStreamManager,
  clinicId: string,
  windowHours: number,
  logger: Logger,
): Promise<void> {
  try {
    const result = await ensureIdempotencyBucket(jsm, clinicId, windowHours);
    if (result !== 'unchanged')
      logger.info({ stream: idempotencyStreamName(clinicId), result, windowHours }, 'send log set up');
  } catch (err) {
    const denied = classifyNatsError(err) === 'permission-denied';
    logger[denied ? 'info' : 'warn'](
      { err, stream: idempotencyStreamName(clinicId) },
      denied
        ? 'the send log is managed by the operator (this NATS user may not look at it)'
        : 'cannot set up the send log; assuming it is managed elsewhere',
    );
  }
}
