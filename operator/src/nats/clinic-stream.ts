/**
 * A clinic's JetStream stream and the durable pull consumer its backends read through. The
 * platform creates both (clinic accounts have no JetStream rights of their own); creating
 * them again is harmless, so every operator process does it once per clinic.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from 'nats';
import { CLINIC_BACKEND_CONSUMER, clinicStream, jetStreamConfig } from '../../../contract/index.ts';

/** How long a backend has to acknowledge a message before it is delivered again. */
const BACKEND_ACK_WAIT_NS = 60 * 1e9;
/** Unacknowledged messages a clinic's backends may hold at once. */
const BACKEND_MAX_ACK_PENDING = 1_000;

const alreadyExists = (err: unknown) => /already in use|exists/i.test(String(err));

export async function ensureClinicStream(jsm: JetStreamManager, clinicId: string): Promise<void> {
  const spec = clinicStream(clinicId);
  try {
    await jsm.streams.add(jetStreamConfig(spec));
  } catch (err) {
    // Created before (by this operator, an earlier one, or a worker of an older release).
    if (!alreadyExists(err)) throw err;
  }
  try {
    await jsm.consumers.add(spec.name, {
      durable_name: CLINIC_BACKEND_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: BACKEND_ACK_WAIT_NS,
      max_ack_pending: BACKEND_MAX_ACK_PENDING,
    });
  } catch (err) {
    if (!alreadyExists(err)) throw err;
  }
}
