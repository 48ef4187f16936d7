import { AckPolicy, connect, StringCodec, type NatsConnection } from 'nats';
import { testStack } from '../../harness/stack.ts';

/** Smoke test of the real nats-server: a JetStream round trip with deduplication. */
describe('nats-server with JetStream', () => {
  let nc: NatsConnection;
  const sc = StringCodec();
  beforeAll(async () => {
    nc = await connect({ servers: testStack().nats.url });
  });
  afterAll(async () => {
    await nc.close();
  });

  test('a message published to a stream is stored once per message id and consumed', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SMOKE', subjects: ['smoke.>'], duplicate_window: 60_000_000_000 });
    const js = nc.jetstream();
    const first = await js.publish('smoke.a', sc.encode('hello'), { msgID: 'm-1' });
    const again = await js.publish('smoke.a', sc.encode('hello'), { msgID: 'm-1' });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);

    await jsm.consumers.add('SMOKE', { durable_name: 'reader', ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get('SMOKE', 'reader');
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg?.subject).toBe('smoke.a');
    expect(sc.decode(msg!.data)).toBe('hello');
    msg!.ack();
    expect((await jsm.streams.info('SMOKE')).state.messages).toBe(1);
  });
});
