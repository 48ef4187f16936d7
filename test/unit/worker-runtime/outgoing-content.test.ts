import { baileysContent } from '../../../worker/src/session/outgoing-content.ts';
import { groupInfoOf, isNotFound, numberChecks } from '../../../worker/src/session/session-queries.ts';

const ALICE = '5511999990000@s.whatsapp.net';
const GROUP = '120363000000000001@g.us';
const ME = '5511888880000:3@s.whatsapp.net';

describe('outgoing content as Baileys takes it', () => {
  test('a plain text never fetches link previews and carries nothing else', () => {
    expect(baileysContent(ALICE, { kind: 'text', text: 'see https://x.test' }, ME)).toEqual({
      text: 'see https://x.test',
      linkPreview: null,
    });
  });

  test('a reply quotes by id and sender; a quote of our own message names us', () => {
    expect(
      baileysContent(
        GROUP,
        { kind: 'text', text: 'ok', replyTo: { id: 'Q1', fromMe: false, participant: ALICE, text: 'when?' } },
        ME,
      ),
    ).toEqual({
      text: 'ok',
      linkPreview: null,
      contextInfo: { stanzaId: 'Q1', participant: ALICE, quotedMessage: { conversation: 'when?' } },
    });
    expect(
      baileysContent(ALICE, { kind: 'text', text: 'ok', replyTo: { id: 'Q2', fromMe: true } }, ME),
    ).toMatchObject({
      contextInfo: { stanzaId: 'Q2', participant: ME },
    });
    // In a chat with one person, their message's sender is the chat.
    expect(
      baileysContent(ALICE, { kind: 'text', text: 'ok', replyTo: { id: 'Q3', fromMe: false } }, ME),
    ).toMatchObject({
      contextInfo: { stanzaId: 'Q3', participant: ALICE },
    });
  });

  test('mentions, reactions, edits and revokes name the message by its key in the chat', () => {
    expect(
      baileysContent(GROUP, { kind: 'text', text: 'hi @5511999990000', mentions: [ALICE] }),
    ).toMatchObject({
      mentions: [ALICE],
    });
    expect(
      baileysContent(GROUP, {
        kind: 'reaction',
        emoji: '👍',
        message: { id: 'M', fromMe: false, participant: ALICE },
      }),
    ).toEqual({
      react: { text: '👍', key: { remoteJid: GROUP, id: 'M', fromMe: false, participant: ALICE } },
    });
    expect(baileysContent(ALICE, { kind: 'edit', messageId: 'M', text: 'fixed' })).toEqual({
      text: 'fixed',
      edit: { remoteJid: ALICE, id: 'M', fromMe: true },
    });
    expect(
      baileysContent(ALICE, { kind: 'revoke', message: { id: 'M', fromMe: true, participant: ALICE } }),
    ).toEqual({
      delete: { remoteJid: ALICE, id: 'M', fromMe: true },
    });
  });
});

describe('query answers', () => {
  test('number checks answer every number asked, in order, with JID and LID when on WhatsApp', () => {
    const list = [
      { id: '5511999990001@s.whatsapp.net', contact: false },
      { id: '5511999990000@s.whatsapp.net', contact: true, lid: '99887766554433@lid' },
    ];
    expect(numberChecks(['5511999990000', '5511999990001', '5511999990002'], list)).toEqual([
      { number: '5511999990000', exists: true, jid: ALICE, lid: '99887766554433@lid' },
      { number: '5511999990001', exists: false },
      { number: '5511999990002', exists: false },
    ]);
  });

  test('group metadata keeps subject, owner and participants with their roles', () => {
    expect(
      groupInfoOf({
        id: GROUP,
        subject: 'Care team',
        owner: ALICE,
        creation: 1700000000,
        participants: [
          { id: ALICE, admin: 'superadmin' },
          { id: '5511999990001@s.whatsapp.net', lid: '1234567@lid', admin: null },
        ],
      }),
    ).toEqual({
      jid: GROUP,
      subject: 'Care team',
      owner: ALICE,
      creation: 1700000000,
      participants: [
        { jid: ALICE, admin: 'superadmin' },
        { jid: '5511999990001@s.whatsapp.net', lid: '1234567@lid' },
      ],
    });
  });

  test('a 404 answer is "not found", a timeout is not', () => {
    expect(isNotFound({ data: 404 })).toBe(true);
    expect(isNotFound(new Error('Timed Out'))).toBe(false);
  });
});
