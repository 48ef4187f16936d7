import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { command, eventually, WorkerSuite } from './worker-harness.ts';

/**
 * A send written to a WhatsApp connection that dies before the server read it: the command was
 * answered ok (the stanza left the worker), so the backend never retries it. The worker keeps it
 * pending until the server acks it and relays it again, with the same id, once a new connection
 * is up: the contact gets it exactly once.
 */
let proxy: TcpProxy | undefined;
const suite = new WorkerSuite('pending-sends', async () => proxy?.stop());

/**
 * A text message stanza (encrypted for the contact's and the clinic phone's devices, with the
 * device identity) is about 800 bytes here; on an open connection everything else the worker
 * writes (keep-alive and self-check pings, receipts, acks) is under 200.
 */
const MESSAGE_STANZA_MIN_BYTES = 500;

test('a send lost with its connection before the server read it reaches the contact once, with its id, after the reconnect', async () => {
  const env = suite.envFor('resend');
  proxy = await TcpProxy.start(env.sim.url);
  const wsUrl = `ws://127.0.0.1:${proxy.port}${new URL(env.sim.url).pathname}`;
  const phonePn = '5511900000301';
  const contactPn = '5511977770301';
  const { worker, watch } = await suite.pair(env, 'pod-resend', phonePn, { WA_WS_URL: wsUrl });
  const contact = env.sim.contact(contactPn, 'Patient');
  const received = (text: string) => contact.inbox.filter((m) => m.text === text && !m.ownCopy);
  const send = (text: string) =>
    command(suite.nc, env.clinic, env.channel, 'send', {
      idempotencyKey: text.replace(/\s+/g, '-'),
      to: `+${contactPn}`,
      text,
    });

  // A first send sets up the devices and Signal sessions, so the next one is a single stanza.
  expect((await send('first contact')).ok).toBe(true);
  await eventually('the first message at the contact', async () => received('first contact').length === 1);

  const statusesBefore = watch.status.length;
  const cut = proxy.downAtNextWrite(MESSAGE_STANZA_MIN_BYTES);
  const reply = await send('written as the connection died');
  await cut;
  expect(reply.ok).toBe(true);
  const id = reply.ok ? (reply.result.messageId as string) : '';
  expect(received('written as the connection died')).toEqual([]); // the server never read it

  proxy.up();
  await eventually('Connected again after the cut', async () =>
    watch.status.slice(statusesBefore).some((s) => s.phase === 'Connected'),
  );
  await eventually(
    'the lost message at the contact',
    async () => received('written as the connection died').length > 0,
  );
  expect(received('written as the connection died').map((m) => m.id)).toEqual([id]);
  // The worker's log line comes through its stdout pipe, which may trail the message itself.
  await eventually('the resend in the worker log', async () =>
    worker.logs().includes('resent a message the server had not acknowledged'),
  );

  // A later message arrives after it, and the lost one is still there exactly once.
  expect((await send('after the reconnect')).ok).toBe(true);
  await eventually(
    'the later message at the contact',
    async () => received('after the reconnect').length === 1,
  );
  expect(received('written as the connection died')).toHaveLength(1);
  expect(env.sim.problems()).toEqual([]);
  watch.stop();
});
