import { parseCommand, sendFingerprint, toJid } from '../../../worker/src/commands/parse.ts';
import { sendMessageId } from '../../../worker/src/commands/server.ts';

const MAX_TEXT_LENGTH = 4096; // command-send.v1.json

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const MAX = 64 * 1024;

describe('command parsing', () => {
  test('a valid send', () => {
    const r = parseCommand(
      'send',
      enc({ v: 1, idempotencyKey: 'appt-42', to: '+5511999990000', text: 'hi' }),
      MAX,
    );
    expect(r).toEqual({
      ok: true,
      command: {
        verb: 'send',
        idempotencyKey: 'appt-42',
        to: '+5511999990000',
        jid: '5511999990000@s.whatsapp.net',
        text: 'hi',
        whenRateLimited: 'wait',
      },
    });
  });

  test('a send may prefer to be refused rather than wait for its turn; any other value is invalid', () => {
    const body = { idempotencyKey: 'k', to: '+5511999990000', text: 'hi' };
    const refuse = parseCommand('send', enc({ ...body, whenRateLimited: 'refuse' }), MAX);
    expect(refuse.ok && refuse.command.verb === 'send' && refuse.command.whenRateLimited).toBe('refuse');
    const bad = parseCommand('send', enc({ ...body, whenRateLimited: 'later' }), MAX);
    expect(bad.ok ? undefined : bad.error.code).toBe('InvalidCommand');
    expect(bad.ok ? '' : bad.error.message).toContain('/whenRateLimited');
  });

  test.each([
    ['size is checked before anything else', 'nope', new Uint8Array(MAX + 1), 'PayloadTooLarge'],
    ['unknown verb', 'forward', enc({}), 'UnknownCommand'],
    ['invalid JSON', 'send', enc('{'), 'MalformedCommand'],
    ['invalid UTF-8', 'send', new Uint8Array([0xc3, 0x28]), 'MalformedCommand'],
    // The contract's parser reports a JSON value that is not an object as a schema violation.
    ['a string body', 'send', enc('"hi"'), 'InvalidCommand'],
    ['null body', 'send', enc('null'), 'InvalidCommand'],
    [
      'text too long',
      'send',
      enc({ idempotencyKey: 'k', to: '+5511999990000', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }),
      'InvalidCommand',
    ],
    [
      'text not a string',
      'send',
      enc({ idempotencyKey: 'k', to: '+5511999990000', text: 5 }),
      'InvalidCommand',
    ],
    [
      'key with spaces',
      'send',
      enc({ idempotencyKey: 'a b', to: '+5511999990000', text: 'x' }),
      'InvalidCommand',
    ],
    [
      'key too long',
      'send',
      enc({ idempotencyKey: 'k'.repeat(129), to: '+5511999990000', text: 'x' }),
      'InvalidCommand',
    ],
    [
      'group JID too short',
      'send',
      enc({ idempotencyKey: 'k', to: '1203@g.us', text: 'x' }),
      'InvalidCommand',
    ],
    [
      'version 2',
      'send',
      enc({ v: 2, idempotencyKey: 'k', to: '+5511999990000', text: 'x' }),
      'InvalidCommand',
    ],
    ['pair with a bad number', 'pair', enc({ mode: 'code', phoneNumber: 'abc' }), 'InvalidCommand'],
    ['logout with extra fields', 'logout', enc({ everything: true }), 'InvalidCommand'],
  ])('%s', (_name, verb, data, code) => {
    const r = parseCommand(verb, data, MAX);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.code).toBe(code);
  });

  test('pair defaults to QR; an empty body is an empty object', () => {
    expect(parseCommand('pair', new Uint8Array(), MAX)).toEqual({
      ok: true,
      command: { verb: 'pair', mode: 'qr', phoneNumber: undefined },
    });
    expect(parseCommand('pair', enc({ mode: 'code', phoneNumber: '+5511999990000' }), MAX)).toEqual({
      ok: true,
      command: { verb: 'pair', mode: 'code', phoneNumber: '5511999990000' },
    });
    expect(parseCommand('logout', enc({}), MAX)).toEqual({ ok: true, command: { verb: 'logout' } });
  });

  test('recipients: numbers, user JIDs, LIDs and group JIDs', () => {
    expect(toJid('5511999990000')).toBe('5511999990000@s.whatsapp.net');
    expect(toJid('5511999990000@s.whatsapp.net')).toBe('5511999990000@s.whatsapp.net');
    expect(toJid('123456789012345@lid')).toBe('123456789012345@lid');
    expect(toJid('120363000000000001@g.us')).toBe('120363000000000001@g.us');
    expect(toJid('5511999990000-1700000000@g.us')).toBe('5511999990000-1700000000@g.us');
    expect(toJid('5511999990000@broadcast')).toBeUndefined();
    expect(toJid('+0123')).toBeUndefined();
    expect(toJid('x@s.whatsapp.net')).toBeUndefined();
  });

  test('the fingerprint ties a key to the recipient and text, not to how the number was written', () => {
    const a = parseCommand('send', enc({ idempotencyKey: 'k', to: '+5511999990000', text: 'x' }), MAX);
    const b = parseCommand(
      'send',
      enc({ idempotencyKey: 'k', to: '5511999990000@s.whatsapp.net', text: 'x' }),
      MAX,
    );
    const c = parseCommand('send', enc({ idempotencyKey: 'k', to: '+5511999990000', text: 'y' }), MAX);
    if (
      !a.ok ||
      !b.ok ||
      !c.ok ||
      a.command.verb !== 'send' ||
      b.command.verb !== 'send' ||
      c.command.verb !== 'send'
    )
      throw new Error();
    expect(sendFingerprint(a.command)).toBe(sendFingerprint(b.command));
    expect(sendFingerprint(a.command)).not.toBe(sendFingerprint(c.command));
  });
});

describe('the WhatsApp message id of a send', () => {
  const subject = 'wa.clinic-a.front.cmd.*';
  test('is the same for every try of one key on one channel, and differs for another key or channel', () => {
    expect(sendMessageId(subject, 'appt-7')).toBe(sendMessageId(subject, 'appt-7'));
    expect(sendMessageId(subject, 'appt-7')).not.toBe(sendMessageId(subject, 'appt-8'));
    expect(sendMessageId(subject, 'appt-7')).not.toBe(sendMessageId('wa.clinic-b.front.cmd.*', 'appt-7'));
  });
  test('is shaped like the ids Baileys makes', () => {
    expect(sendMessageId(subject, 'appt-7')).toMatch(/^3EB0[0-9A-F]{18}$/);
  });
});
