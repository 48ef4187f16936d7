/**
 * A stand-in for the worker container, for e2e tests that need many channels on a 2-core
 * machine (rollout.test.ts runs 60): the process kubelet runs it instead of worker/src/main.ts
 * for the images the test names. It speaks the worker's contract towards the operator and
 * nothing else: it reads the environment the operator put in the pod, and publishes the
 * channel's status events (contract/schemas/status.v1.json, validated) as that pod
 * (`worker` = WA_LEASE_HOLDER) on `wa.<clinic>.<channel>.status`, which the clinic's stream
 * stores as it stores a real worker's. The operator then decides the phase exactly as for a real
 * worker. It does not connect to WhatsApp (no session, no messages).
 *
 *   node stand-in-worker.ts serve   Connecting, then Connected (as a paired account), until SIGTERM
 *   node stand-in-worker.ts crash   exits 1 at once, as a release that cannot start
 */
import { connect } from 'nats';
import { channelSubjects } from '../../../contract/subjects.ts';
import { validatePayload } from '../../../contract/validate.ts';
import type { StatusEvent } from '../../../contract/generated/payloads.ts';

const mode = process.argv[2];
if (mode === 'crash') {
  process.stderr.write('stand-in worker: this release cannot start\n');
  process.exit(1);
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`stand-in worker: ${name} is not set`);
  return value;
};
const clinicId = env('WA_CLINIC_ID');
const channelId = env('WA_CHANNEL_ID');
const worker = env('WA_LEASE_HOLDER');
const nc = await connect({ servers: env('NATS_URL') });
let seq = 0;
const publish = (phase: StatusEvent['phase'], extra: Partial<StatusEvent> = {}) => {
  const event: StatusEvent = {
    v: 1,
    clinicId,
    channelId,
    worker,
    phase,
    reconnects: 0,
    degraded: false,
    at: new Date().toISOString(),
    seq: ++seq,
    ...extra,
  };
  const checked = validatePayload('status', event);
  if (!checked.ok) throw new Error(`invalid status event: ${checked.errors.join('; ')}`);
  nc.publish(channelSubjects(clinicId, channelId).status, JSON.stringify(event));
};
publish('Connecting');
publish('Connected', { account: `${channelId}@s.whatsapp.net` });
await nc.flush();
process.on('SIGTERM', () => {
  void nc.drain().finally(() => process.exit(0));
});
