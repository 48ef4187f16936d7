/**
 * A clinic's JetStream stream and the durable pull consumer its backends read through. The
 * platform creates both (clinic accounts have no JetStream rights of their own): the operator
 * once per clinic when it issues NATS credentials, else each worker at start (its NATS user may
 * then manage streams; with issued credentials it may only look, and finds them current). An
 * existing stream or consumer is brought to this release's settings: a release that changes
 * retention, the duplicate window or the captured subjects must change the streams created by
 * older releases too, not only new clinics'. The retention is a setting per clinic (default 14
 * days): a changed setting updates the existing stream the next time it is ensured.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { classifyNatsError } from './nats-errors.ts';
import {
  CLINIC_BACKEND_CONSUMER,
  CLINIC_STREAM_RETENTION_DAYS,
  clinicStream,
  jetStreamConfig,
} from './subjects.ts';

/** How long a backend has to acknowledge a message before it is delivered again. */
export const BACKEND_ACK_WAIT_NS = 60 * 1e9;
/** Unacknowledged messages a clinic's backends may hold at once. */
export const BACKEND_MAX_ACK_PENDING = 1_000;

/** What `ensureClinicStream` did, so the caller can say so. */
export interface ClinicStreamResult {
  stream: 'created' | 'updated' | 'unchanged';
  consumer: 'created' | 'updated' | 'unchanged';
}

/** Stream or consumer not found (JetStream API status 404: error codes 10059 and 10014). */
const notFound = (err: unknown) => classifyNatsError(err) === 'not-found';

export async function ensureClinicStream(
  jsm: JetStreamManager,
  clinicId: string,
  retentionDays = CLINIC_STREAM_RETENTION_DAYS,
): Promise<ClinicStreamResult> {
  const spec = clinicStream(clinicId, retentionDays);
  const streamWanted = jetStreamConfig(spec);
  const consumerWanted = {
    durable_name: CLINIC_BACKEND_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: BACKEND_ACK_WAIT_NS,
    max_ack_pending: BACKEND_MAX_ACK_PENDING,
  } satisfies Partial<ConsumerConfig>;
  // Another operator process may create either one between our look and our add: adding a
  // stream or consumer with identical settings succeeds, so that race needs no handling.
  let stream: ClinicStreamResult['stream'];
  const streamNow = await jsm.streams.info(spec.name).catch((err: unknown) => {
    if (notFound(err)) return undefined;
    throw err;
  });
  if (!streamNow) {
    await jsm.streams.add(streamWanted);
    stream = 'created';
  } else if (streamDiffers(streamNow.config, streamWanted)) {
    await jsm.streams.update(spec.name, { ...streamNow.config, ...streamWanted });
    stream = 'updated';
  } else stream = 'unchanged';

  let consumer: ClinicStreamResult['consumer'];
  const consumerNow = await jsm.consumers.info(spec.name, CLINIC_BACKEND_CONSUMER).catch((err: unknown) => {
    if (notFound(err)) return undefined;
    throw err;
  });
  if (!consumerNow) {
    await jsm.consumers.add(spec.name, consumerWanted);
    consumer = 'created';
  } else if (
    consumerNow.config.ack_wait !== consumerWanted.ack_wait ||
    consumerNow.config.max_ack_pending !== consumerWanted.max_ack_pending
  ) {
    // The ack policy and where delivery starts cannot change on a durable consumer; these can.
    await jsm.consumers.update(spec.name, CLINIC_BACKEND_CONSUMER, {
      ack_wait: consumerWanted.ack_wait,
      max_ack_pending: consumerWanted.max_ack_pending,
    });
    consumer = 'updated';
  } else consumer = 'unchanged';
  return { stream, consumer };
}

function streamDiffers(current: StreamConfig, wanted: ReturnType<typeof jetStreamConfig>): boolean {
  const sameSubjects = [...current.subjects].sort().join() === [...wanted.subjects].sort().join();
  return (
    !sameSubjects ||
    current.max_age !== wanted.max_age ||
    current.duplicate_window !== wanted.duplicate_window
  );
}
