import { createHash, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { testStack } from '../../harness/stack.ts';
import { CommandServer, type Reply } from '../../../worker/src/commands/server.ts';
import {
  channelSubjects,
  ensureIdempotencyBucket,
  MAX_MEDIA_COMMAND_BYTES,
} from '../../../contract/index.ts';
import { KvSendLog } from '../../../worker/src/commands/send-log.ts';
import { createMetrics } from '../../../worker/src/ops/metrics.ts';
import { InboundGate } from '../../../worker/src/session/inbound-gate.ts';
import type { AuthStatePort } from '../../../worker/src/session/ports.ts';
import { systemClock } from '../../../worker/src/session/ports.ts';
import {
  DEFAULT_HISTORY_WINDOWS,
  DEFAULT_RECONNECT_PARAMS,
} from '../../../worker/src/session/reconnect-policy.ts';
import { Supervisor } from '../../../worker/src/session/supervisor.ts';

/**
 * Commands over real NATS request/reply against a worker whose session is not connected:
 * every bad command gets a typed error and nothing happens (no socket, no state change).
 */
describe('worker commands over NATS', () => {
  let nc: NatsConnection;
  let server: CommandServer;
  let supervisor: Supervisor;
  const touched: string[] = [];
  const clinicId = `c-${randomUUID().slice(0, 8)}`;
  const subjects = channelSubjects(clinicId, 'main');
  const logger = pino({ level: 'silent' });
  const metrics = createMetrics({ clinic: clinicId, channel: 'main' });
  const MAX = 4096;

  beforeAll(async () => {
    nc = await connect({ servers: testStack().nats.url });
    const refuse = (what: string) => async () => {
      touched.push(what);
      throw new Error(`${what} must not be called`);
    };
    const auth: AuthStatePort = {
      isRegistered: () => true,
      flush: refuse('flush'),
      quarantine: refuse('quarantine'),
      erase: refuse('erase'),
      healthy: refuse('healthy'),
      isFencingError: () => false,
    };
    supervisor = new Supervisor({
      options: {
        reconnect: DEFAULT_RECONNECT_PARAMS,
        windows: DEFAULT_HISTORY_WINDOWS,
        maxQrCodes: 3,
        pairing: 'qr',
        phoneNumber: undefined,
        deaf: { silentAfterMs: 1e6, sendAckTimeoutMs: 1e6, maxSelfCheckFailures: 2 },
        selfCheckIntervalMs: 1e6,
        selfCheckTimeoutMs: 1e4,
      },
      createSocket: () => {
        touched.push('createSocket');
        throw new Error('no socket in this test');
      },
      gate: new InboundGate({ deliver: async () => undefined, me: () => ({ id: '', lid: '' }) }),
      auth,
      lease: { stillHeld: refuse('lease') },
      status: { publish: () => undefined },
      hooks: {
        pairing: () => undefined,
        attach: () => () => undefined,
        dependencyReady: async () => true,
      },
      clock: systemClock,
      random: Math.random,
      logger,
    });
    await ensureIdempotencyBucket(await nc.jetstreamManager(), clinicId);
    server = new CommandServer({
      nc,
      subject: subjects.commands,
      maxBytes: MAX,
      idempotencyCapacity: 100,
      sendLog: await KvSendLog.open(nc, clinicId, 'main'),
      session: supervisor,
      metrics,
      logger,
    });
    server.start();
    await nc.flush();
  });
  afterAll(async () => {
    await server.stop();
    await nc.close();
  });

  const request = async (verb: string, body: Uint8Array | string | object): Promise<Reply> => {
    const data =
      body instanceof Uint8Array
        ? body
        : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
    const reply = await nc.request(subjects.command(verb), data, { timeout: 5_000 });
    return reply.json<Reply>();
  };
  const code = (r: Reply) => (r.ok ? 'ok' : r.error.code);

  test.each([
    ['malformed JSON', 'send', '{"to":', 'MalformedCommand'],
    ['not UTF-8', 'send', new Uint8Array([0xff, 0xfe, 0x7b]), 'MalformedCommand'],
    ['a JSON array', 'send', '[1,2]', 'InvalidCommand'],
    ['unknown verb', 'format-disk', {}, 'UnknownCommand'],
    ['missing idempotency key', 'send', { to: '+5511999990000', text: 'hi' }, 'InvalidCommand'],
    ['bad recipient', 'send', { idempotencyKey: 'k1', to: 'drop table', text: 'hi' }, 'InvalidCommand'],
    ['empty text', 'send', { idempotencyKey: 'k1', to: '+5511999990000', text: '' }, 'InvalidCommand'],
    [
      'unknown field',
      'send',
      { idempotencyKey: 'k1', to: '+5511999990000', text: 'hi', media: 'x' },
      'InvalidCommand',
    ],
    ['future version', 'logout', { v: 2 }, 'InvalidCommand'],
    ['bad pairing mode', 'pair', { mode: 'sms' }, 'InvalidCommand'],
    [
      'oversized',
      'react',
      {
        idempotencyKey: 'k1',
        to: '+5511999990000',
        message: { id: 'ABC', fromMe: false },
        emoji: 'x'.repeat(MAX),
      },
      'PayloadTooLarge',
    ],
    // send may carry file bytes, so its limit is MAX_MEDIA_COMMAND_BYTES, not the worker's maxBytes.
    [
      'oversized send',
      'send',
      { idempotencyKey: 'k1', to: '+5511999990000', text: 'x'.repeat(MAX_MEDIA_COMMAND_BYTES) },
      'PayloadTooLarge',
    ],
  ] as const)('%s → %s error reply, nothing changes', async (_name, verb, body, expected) => {
    const r = await request(verb, body);
    expect(r.v).toBe(1);
    expect(code(r)).toBe(expected);
    expect(r.ok === false && r.error.message.length).toBeGreaterThan(0);
    expect(touched).toEqual([]);
    expect(supervisor.phase).toBe('Pending');
  });

  test('a valid send while not connected is refused as NotConnected, and a retry is allowed later', async () => {
    const body = { idempotencyKey: 'send-1', to: '+5511999990000', text: 'your appointment is at 10:00' };
    expect(code(await request('send', body))).toBe('NotConnected');
    expect(code(await request('send', body))).toBe('NotConnected');
    expect(touched).toEqual([]);
  });

  test('a key another worker claimed and never completed is refused as OutcomeUnknown, nothing sent', async () => {
    // Another worker of the channel (before a crash or a lease takeover) claimed the key, then died.
    const other = await KvSendLog.open(nc, clinicId, 'main');
    const body = { idempotencyKey: 'claimed:elsewhere', to: '+5511999990000', text: 'see you at 10:00' };
    const theirs = createHash('sha256').update(JSON.stringify(['5511999990000@s.whatsapp.net', body.text]));
    expect(await other.claim(body.idempotencyKey, theirs.digest('hex'))).toMatchObject({ kind: 'claimed' });
    const r = await request('send', body);
    expect(r).toMatchObject({ ok: false, error: { code: 'OutcomeUnknown' } });
    // The same key for another message is still a reused key, not an unknown outcome.
    expect(code(await request('send', { ...body, text: 'other' }))).toBe('IdempotencyKeyReused');
    expect(touched).toEqual([]);
  });

  test('a key another worker completed is answered from its record, nothing sent', async () => {
    const other = await KvSendLog.open(nc, clinicId, 'main');
    const body = { idempotencyKey: 'done-elsewhere', to: '+5511999990000', text: 'bring your card' };
    const fingerprint = createHash('sha256')
      .update(JSON.stringify(['5511999990000@s.whatsapp.net', body.text]))
      .digest('hex');
    const claim = await other.claim(body.idempotencyKey, fingerprint);
    if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
    await other.complete(body.idempotencyKey, claim.revision, fingerprint, {
      ok: true,
      messageId: '3EB0FIRSTSEND',
      timestamp: 1_700_000_000,
    });
    expect(await request('send', body)).toEqual({
      v: 1,
      ok: true,
      result: {
        messageId: '3EB0FIRSTSEND',
        to: '5511999990000@s.whatsapp.net',
        timestamp: 1_700_000_000,
        replayed: true,
      },
    });
    expect(touched).toEqual([]);
  });

  test.each([
    ['read', { chat: '+5511999990000', messages: [{ id: 'ABC' }] }],
    ['presence', { state: 'composing', chat: '+5511999990000' }],
    ['react', { idempotencyKey: 'r-1', chat: '+5511999990000', message: { id: 'ABC' }, emoji: '👍' }],
    ['edit', { idempotencyKey: 'e-1', chat: '+5511999990000', messageId: 'ABC', text: 'fixed' }],
    ['delete', { idempotencyKey: 'd-1', chat: '+5511999990000', message: { id: 'ABC', fromMe: true } }],
    ['check', { numbers: ['+5511999990000'] }],
    ['group-info', { group: '120363000000000001@g.us' }],
  ] as const)(
    '%s while not connected is refused as NotConnected (twice: nothing was kept)',
    async (verb, body) => {
      expect(code(await request(verb, body))).toBe('NotConnected');
      expect(code(await request(verb, body))).toBe('NotConnected');
      expect(touched).toEqual([]);
    },
  );

  test('logout while not connected is refused; pairing a linked channel is refused', async () => {
    expect(code(await request('logout', {}))).toBe('NotConnected');
    expect(code(await request('pair', { mode: 'qr' }))).toBe('AlreadyLinked');
    expect(touched).toEqual([]);
  });

  test('oversized payloads are refused without parsing (a megabyte of garbage)', async () => {
    // Over send's media limit, within NATS' 1 MiB payload: the worker refuses it by size alone.
    const r = await request('send', new Uint8Array(MAX_MEDIA_COMMAND_BYTES + 1024).fill(0x7b));
    expect(code(r)).toBe('PayloadTooLarge');
  });
});
