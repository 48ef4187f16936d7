/**
 * The verbs beyond send/pair/logout: what each turns into, and that every refusal names the
 * field at fault (the schema's message, or the check a schema cannot express).
 */
import { parseCommand, sendFingerprint, type Command } from '../../../worker/src/commands/parse.ts';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const MAX = 64 * 1024;
const GROUP = '120363000000000001@g.us';
const ALICE = '5511999990000@s.whatsapp.net';

function parsed(verb: string, body: unknown): Command {
  const r = parseCommand(verb, enc(body), MAX);
  if (!r.ok) throw new Error(`refused: ${r.error.message}`);
  return r.command;
}

function refusal(verb: string, body: unknown): { code: string; message: string } {
  const r = parseCommand(verb, enc(body), MAX);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.command)}`);
  return r.error;
}

describe('verbs: what a valid command becomes', () => {
  test('send with a reply and mentions, to a group', () => {
    expect(
      parsed('send', {
        idempotencyKey: 'k',
        to: GROUP,
        text: 'hi @5511999990000',
        replyTo: { id: 'ABC123', participant: ALICE, text: 'the question' },
        mentions: [ALICE],
      }),
    ).toEqual({
      verb: 'send',
      idempotencyKey: 'k',
      to: GROUP,
      jid: GROUP,
      text: 'hi @5511999990000',
      replyTo: { id: 'ABC123', fromMe: false, participant: ALICE, text: 'the question' },
      mentions: [ALICE],
      whenRateLimited: 'wait',
    });
  });

  test('send to a LID', () => {
    expect(parsed('send', { idempotencyKey: 'k', to: '123456789012345@lid', text: 'x' })).toMatchObject({
      jid: '123456789012345@lid',
    });
  });

  test('read: a number becomes its JID', () => {
    expect(parsed('read', { chat: '+5511999990000', messages: [{ id: 'A1' }, { id: 'A2' }] })).toEqual({
      verb: 'read',
      jid: ALICE,
      messages: [{ id: 'A1' }, { id: 'A2' }],
    });
  });

  test('presence in a chat, and for the account', () => {
    expect(parsed('presence', { state: 'composing', chat: ALICE })).toEqual({
      verb: 'presence',
      state: 'composing',
      jid: ALICE,
    });
    expect(parsed('presence', { state: 'available' })).toEqual({
      verb: 'presence',
      state: 'available',
      jid: undefined,
    });
  });

  test('react, edit, delete', () => {
    expect(parsed('react', { idempotencyKey: 'r', chat: ALICE, message: { id: 'A1' }, emoji: '👍' })).toEqual(
      { verb: 'react', idempotencyKey: 'r', jid: ALICE, message: { id: 'A1', fromMe: false }, emoji: '👍' },
    );
    expect(parsed('edit', { idempotencyKey: 'e', chat: ALICE, messageId: '3EB0AA', text: 'fixed' })).toEqual({
      verb: 'edit',
      idempotencyKey: 'e',
      jid: ALICE,
      messageId: '3EB0AA',
      text: 'fixed',
    });
    expect(
      parsed('delete', { idempotencyKey: 'd', chat: GROUP, message: { id: '3EB0AA', fromMe: true } }),
    ).toEqual({ verb: 'delete', idempotencyKey: 'd', jid: GROUP, message: { id: '3EB0AA', fromMe: true } });
  });

  test('check and group-info', () => {
    expect(parsed('check', { numbers: ['+5511999990000', '5511999990001'] })).toEqual({
      verb: 'check',
      numbers: ['5511999990000', '5511999990001'],
    });
    expect(parsed('group-info', { group: GROUP })).toEqual({ verb: 'group-info', jid: GROUP });
  });
});

describe('verbs: every refusal is InvalidCommand and names the field', () => {
  test.each([
    ['read without messages', 'read', { chat: ALICE, messages: [] }, '/messages'],
    [
      'read in a group without the sender',
      'read',
      { chat: GROUP, messages: [{ id: 'A' }] },
      '/messages/0/participant',
    ],
    ['read with a bad chat', 'read', { chat: 'alice', messages: [{ id: 'A' }] }, '/chat'],
    ['read with a bad message id', 'read', { chat: ALICE, messages: [{ id: 'a b' }] }, '/messages/0/id'],
    ['presence with an unknown state', 'presence', { state: 'dancing', chat: ALICE }, '/state'],
    ['typing without a chat', 'presence', { state: 'composing' }, '/chat'],
    ['available with a chat', 'presence', { state: 'available', chat: ALICE }, '/chat'],
    ['react without a key', 'react', { chat: ALICE, message: { id: 'A' }, emoji: 'x' }, '/idempotencyKey'],
    ['react without emoji', 'react', { idempotencyKey: 'k', chat: ALICE, message: { id: 'A' } }, '/emoji'],
    [
      "react to someone's group message without the sender",
      'react',
      { idempotencyKey: 'k', chat: GROUP, message: { id: 'A' }, emoji: '👍' },
      '/message/participant',
    ],
    ['edit with empty text', 'edit', { idempotencyKey: 'k', chat: ALICE, messageId: 'A', text: '' }, '/text'],
    ['edit without the id', 'edit', { idempotencyKey: 'k', chat: ALICE, text: 'x' }, '/messageId'],
    [
      'delete with an unknown field',
      'delete',
      { idempotencyKey: 'k', chat: ALICE, message: { id: 'A', x: 1 } },
      '/message/x',
    ],
    ['check with no numbers', 'check', { numbers: [] }, '/numbers'],
    ['check with a JID', 'check', { numbers: [ALICE] }, '/numbers/0'],
    [
      'check with too many numbers',
      'check',
      { numbers: Array.from({ length: 51 }, (_, i) => `+551199999${String(i).padStart(4, '0')}`) },
      '/numbers',
    ],
    ['group-info with a user JID', 'group-info', { group: ALICE }, '/group'],
    [
      'send mentioning a group',
      'send',
      { idempotencyKey: 'k', to: GROUP, text: 'x', mentions: [GROUP] },
      '/mentions/0',
    ],
    [
      "send replying to someone's group message without the sender",
      'send',
      { idempotencyKey: 'k', to: GROUP, text: 'x', replyTo: { id: 'A' } },
      '/replyTo/participant',
    ],
  ])('%s', (_name, verb, body, field) => {
    const error = refusal(verb, body);
    expect(error.code).toBe('InvalidCommand');
    expect(error.message).toContain(`${field}:`);
  });
});

describe('fingerprints of message commands', () => {
  const fp = (verb: string, body: unknown) => {
    const c = parsed(verb, body);
    if (c.verb !== 'send' && c.verb !== 'react' && c.verb !== 'edit' && c.verb !== 'delete')
      throw new Error(c.verb);
    return sendFingerprint(c);
  };

  test('a plain text send keeps the fingerprint earlier workers recorded', () => {
    expect(fp('send', { idempotencyKey: 'k', to: ALICE, text: 'x' })).toBe(JSON.stringify([ALICE, 'x']));
  });

  test('a key reused for another verb, emoji, reply or target is a different command', () => {
    const react = { idempotencyKey: 'k', chat: ALICE, message: { id: 'A' }, emoji: '👍' };
    const all = [
      fp('send', { idempotencyKey: 'k', to: ALICE, text: 'x' }),
      fp('send', { idempotencyKey: 'k', to: ALICE, text: 'x', replyTo: { id: 'A' } }),
      fp('react', react),
      fp('react', { ...react, emoji: '❤️' }),
      fp('react', { ...react, message: { id: 'B' } }),
      fp('edit', { idempotencyKey: 'k', chat: ALICE, messageId: 'A', text: 'x' }),
      fp('delete', { idempotencyKey: 'k', chat: ALICE, message: { id: 'A' } }),
      fp('delete', { idempotencyKey: 'k', chat: ALICE, message: { id: 'A', fromMe: true } }),
    ];
    expect(new Set(all).size).toBe(all.length);
  });
});
