import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import {
  BACKEND_ACK_WAIT_NS,
  BACKEND_MAX_ACK_PENDING,
  ensureClinicStream,
} from '../../../contract/clinic-stream.ts';
import {
  CLINIC_BACKEND_CONSUMER,
  CLINIC_STREAM_RETENTION_DAYS,
  IDEMPOTENCY_WINDOW_HOURS,
  clinicStream,
  ensureIdempotencyBucket,
  idempotencyBucketName,
  idempotencyRecordKey,
  idempotencyStreamName,
  jetStreamConfig,
} from '../../../contract/index.ts';
import { clinicRetentionDays } from '../../../operator/src/clinic-stream-settings.ts';
import { testStack } from '../../harness/stack.ts';

/** The operator's clinic stream and backend consumer on real JetStream, new and from older releases. */
describe('clinic stream and backend consumer', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const HOUR_NS = 3600 * 1e9;

  beforeAll(async () => {
    nc = await connect({ servers: testStack().nats.url });
    jsm = await nc.jetstreamManager();
  });
  afterAll(async () => {
    await nc.close();
  });

  test("a new clinic gets the contract's stream and consumer; a second pass changes nothing", async () => {
    const clinic = `c-${randomUUID().slice(0, 8)}`;
    expect(await ensureClinicStream(jsm, clinic)).toEqual({ stream: 'created', consumer: 'created' });
    const spec = clinicStream(clinic);
    const { config } = await jsm.streams.info(spec.name);
    expect([...config.subjects].sort()).toEqual([...spec.subjects].sort());
    expect(config.max_age).toBe(spec.maxAgeMs * 1e6);
    expect(config.duplicate_window).toBe(spec.duplicateWindowMs * 1e6);
    const consumer = await jsm.consumers.info(spec.name, CLINIC_BACKEND_CONSUMER);
    expect(consumer.config.ack_policy).toBe(AckPolicy.Explicit);
    expect(consumer.config.ack_wait).toBe(BACKEND_ACK_WAIT_NS);
    expect(consumer.config.max_ack_pending).toBe(BACKEND_MAX_ACK_PENDING);
    expect(await ensureClinicStream(jsm, clinic)).toEqual({ stream: 'unchanged', consumer: 'unchanged' });
  });

  test("an older release's stream and consumer are brought to this release, keeping messages and the consumer's position", async () => {
    const clinic = `c-${randomUUID().slice(0, 8)}`;
    const spec = clinicStream(clinic);
    const current = jetStreamConfig(spec);
    // As an older release might have left them: one subject fewer, 1 h retention and window, a 30 s ack wait.
    await jsm.streams.add({
      ...current,
      subjects: current.subjects.filter((s) => !s.endsWith('.msg.update')),
      max_age: HOUR_NS,
      duplicate_window: HOUR_NS,
    });
    await jsm.consumers.add(spec.name, {
      durable_name: CLINIC_BACKEND_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30 * 1e9,
      max_ack_pending: 10,
    });
    const js = nc.jetstream();
    for (const n of [1, 2, 3])
      await js.publish(`wa.${clinic}.front.msg.in`, new TextEncoder().encode(`m${n}`));
    const backend = await js.consumers.get(spec.name, CLINIC_BACKEND_CONSUMER);
    const first = await backend.next({ expires: 5_000 });
    expect(first?.string()).toBe('m1');
    await first!.ackAck();

    expect(await ensureClinicStream(jsm, clinic)).toEqual({ stream: 'updated', consumer: 'updated' });

    const { config, state } = await jsm.streams.info(spec.name);
    expect([...config.subjects].sort()).toEqual([...spec.subjects].sort());
    expect(config.max_age).toBe(current.max_age);
    expect(config.duplicate_window).toBe(current.duplicate_window);
    expect(state.messages).toBe(3); // nothing stored was lost
    const consumer = await jsm.consumers.info(spec.name, CLINIC_BACKEND_CONSUMER);
    expect(consumer.config.ack_wait).toBe(BACKEND_ACK_WAIT_NS);
    expect(consumer.config.max_ack_pending).toBe(BACKEND_MAX_ACK_PENDING);
    // The backend resumes after what it acknowledged, and the added subject is now captured.
    await js.publish(`wa.${clinic}.front.msg.update`, new TextEncoder().encode('u1'));
    const rest: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await backend.next({ expires: 5_000 });
      rest.push(m!.string());
      m!.ack();
    }
    expect(rest).toEqual(['m2', 'm3', 'u1']);
    expect(await ensureClinicStream(jsm, clinic)).toEqual({ stream: 'unchanged', consumer: 'unchanged' });
  });

  test("a clinic's retention setting is its stream's max age; a changed setting updates the stream and keeps what is stored", async () => {
    const clinic = `c-${randomUUID().slice(0, 8)}`;
    const DAY_NS = 24 * HOUR_NS;
    // The operator's settings: 14 days for everyone, 30 for this clinic.
    const settings = { retentionDays: 14, clinicRetentionDays: { [clinic]: 30 }, idempotencyWindowHours: 24 };
    expect(clinicRetentionDays(settings, clinic)).toBe(30);
    expect(clinicRetentionDays(settings, 'another-clinic')).toBe(14);
    await ensureClinicStream(jsm, clinic, clinicRetentionDays(settings, clinic));
    const name = clinicStream(clinic).name;
    expect((await jsm.streams.info(name)).config.max_age).toBe(30 * DAY_NS);
    await nc.jetstream().publish(`wa.${clinic}.front.msg.in`, new TextEncoder().encode('kept'));

    // The setting changes to 7 days: the next pass updates the stream, nothing stored is lost.
    settings.clinicRetentionDays[clinic] = 7;
    expect(await ensureClinicStream(jsm, clinic, clinicRetentionDays(settings, clinic))).toEqual({
      stream: 'updated',
      consumer: 'unchanged',
    });
    const { config, state } = await jsm.streams.info(name);
    expect(config.max_age).toBe(7 * DAY_NS);
    expect(state.messages).toBe(1);
    expect(await ensureClinicStream(jsm, clinic, 7)).toEqual({ stream: 'unchanged', consumer: 'unchanged' });
    // Without a setting, the contract's default.
    expect(await ensureClinicStream(jsm, clinic)).toMatchObject({ stream: 'updated' });
    expect((await jsm.streams.info(name)).config.max_age).toBe(CLINIC_STREAM_RETENTION_DAYS * DAY_NS);
  });

  test("the clinic's send log gets the configured window; a changed window updates it and keeps the records", async () => {
    const clinic = `c-${randomUUID().slice(0, 8)}`;
    const stream = idempotencyStreamName(clinic);
    expect(await ensureIdempotencyBucket(jsm, clinic)).toBe('created');
    let { config } = await jsm.streams.info(stream);
    expect(config.max_age).toBe(IDEMPOTENCY_WINDOW_HOURS * HOUR_NS);
    expect(config.max_msgs_per_subject).toBe(1);
    expect(config.allow_rollup_hdrs).toBe(false);
    const kv = await nc
      .jetstream()
      .views.kv(idempotencyBucketName(clinic), { bindOnly: true, allow_direct: true });
    await kv.put(idempotencyRecordKey('front', 'k1'), new TextEncoder().encode('{}'));

    expect(await ensureIdempotencyBucket(jsm, clinic, 48)).toBe('updated');
    ({ config } = await jsm.streams.info(stream));
    expect(config.max_age).toBe(48 * HOUR_NS);
    expect((await kv.get(idempotencyRecordKey('front', 'k1')))?.string()).toBe('{}');
    expect(await ensureIdempotencyBucket(jsm, clinic, 48)).toBe('unchanged');
  });
});
