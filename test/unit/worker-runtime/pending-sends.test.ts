import pino from 'pino';
import { PendingSends } from '../../../worker/src/session/pending-sends.ts';

const logger = pino({ level: 'silent' });
const ACCOUNT = '5511999990000:3@s.whatsapp.net';
const JID = '5511988880000@s.whatsapp.net';

function fakeSocket(account = ACCOUNT, failAt = -1) {
  const relayed: { jid: string; id: string; text: string | null | undefined }[] = [];
  return {
    relayed,
    user: { id: account },
    relayMessage: async (
      jid: string,
      message: { conversation?: string | null },
      opts: { messageId: string },
    ) => {
      if (relayed.length === failAt) throw new Error('Connection Closed');
      relayed.push({ jid, id: opts.messageId, text: message.conversation });
      return opts.messageId;
    },
  };
}

const always = { isCurrent: () => true, resent: () => undefined };

describe('pending sends', () => {
  test('unacked messages are relayed in send order with their own ids; acked ones are not', async () => {
    const pending = new PendingSends(logger);
    pending.sent('a', JID, { conversation: 'one' }, ACCOUNT);
    pending.sent('b', JID, { conversation: 'two' }, ACCOUNT);
    pending.sent('c', JID, { conversation: 'three' }, ACCOUNT);
    pending.acked('b');
    const socket = fakeSocket();
    const resent: string[] = [];
    await pending.resend(socket, { isCurrent: () => true, resent: (id) => resent.push(id) });
    expect(socket.relayed).toEqual([
      { jid: JID, id: 'a', text: 'one' },
      { jid: JID, id: 'c', text: 'three' },
    ]);
    expect(resent).toEqual(['a', 'c']);
    // Relayed is not acked: still pending until the server says so.
    expect(pending.ids()).toEqual(['a', 'c']);
    pending.acked('a');
    pending.acked('c');
    const next = fakeSocket();
    await pending.resend(next, always);
    expect(next.relayed).toEqual([]);
  });

  test('an ack that arrives before the send is recorded still counts', async () => {
    const pending = new PendingSends(logger);
    pending.acked('fast');
    pending.sent('fast', JID, { conversation: 'x' }, ACCOUNT);
    expect(pending.size).toBe(0);
  });

  test('a failed relay stops the round and keeps the rest for the next connection', async () => {
    const pending = new PendingSends(logger);
    for (const id of ['a', 'b', 'c']) pending.sent(id, JID, { conversation: id }, ACCOUNT);
    const dying = fakeSocket(ACCOUNT, 1);
    await pending.resend(dying, always);
    expect(dying.relayed.map((r) => r.id)).toEqual(['a']);
    const next = fakeSocket();
    await pending.resend(next, always);
    expect(next.relayed.map((r) => r.id)).toEqual(['a', 'b', 'c']);
  });

  test('nothing is relayed on a socket that is no longer current', async () => {
    const pending = new PendingSends(logger);
    pending.sent('a', JID, { conversation: 'a' }, ACCOUNT);
    const old = fakeSocket();
    await pending.resend(old, { isCurrent: () => false, resent: () => undefined });
    expect(old.relayed).toEqual([]);
    expect(pending.ids()).toEqual(['a']);
  });

  test('messages of another linked account are dropped, not sent from the new one', async () => {
    const pending = new PendingSends(logger);
    pending.sent('a', JID, { conversation: 'a' }, ACCOUNT);
    const repaired = fakeSocket('5511999990000:7@s.whatsapp.net');
    await pending.resend(repaired, always);
    expect(repaired.relayed).toEqual([]);
    expect(pending.size).toBe(0);
  });

  test('bounded: past the capacity the oldest is no longer kept', () => {
    const pending = new PendingSends(logger, 3);
    for (const id of ['a', 'b', 'c', 'd']) pending.sent(id, JID, { conversation: id }, ACCOUNT);
    expect(pending.ids()).toEqual(['b', 'c', 'd']);
  });

  test('logout clears everything pending', async () => {
    const pending = new PendingSends(logger);
    pending.sent('a', JID, { conversation: 'a' }, ACCOUNT);
    pending.clear();
    const socket = fakeSocket();
    await pending.resend(socket, always);
    expect(socket.relayed).toEqual([]);
  });
});
