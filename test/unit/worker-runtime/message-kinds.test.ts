import { proto, type WAMessage } from '@whiskeysockets/baileys';
import { validatePayload } from '../../../contract/index.ts';
import { inboundMessageEvent, messageUpdateEvents } from '../../../worker/src/events/payloads.ts';

const ids = { clinicId: 'c1', channelId: 'main' };
const PATIENT = '5511988887777@s.whatsapp.net';
const GROUP = '120363000000000001@g.us';
const P = proto.Message.ProtocolMessage.Type;

function event(content: Record<string, unknown>, key: Partial<WAMessage['key']> = {}) {
  const e = inboundMessageEvent(ids, {
    key: { remoteJid: PATIENT, fromMe: false, id: 'ID1', ...key },
    messageTimestamp: 1_700_000_000,
    message: proto.Message.fromObject(content),
  });
  // Every typed event is a valid msg.in payload.
  const checked = validatePayload('message-in', e);
  if (!checked.ok) throw new Error(checked.errors.join('; '));
  return e;
}

describe('msg.in types what the phone shows', () => {
  test('a text, and a reply with its quoted message and mentions', () => {
    expect(event({ conversation: 'hi' })).toMatchObject({ kind: 'text', text: 'hi' });
    const reply = event({
      extendedTextMessage: {
        text: 'yes @5511977776666',
        contextInfo: {
          stanzaId: 'Q1',
          participant: PATIENT,
          quotedMessage: { conversation: 'can I come?' },
          mentionedJid: ['5511977776666@s.whatsapp.net'],
        },
      },
    });
    expect(reply).toMatchObject({
      kind: 'text',
      quoted: { id: 'Q1', sender: PATIENT, text: 'can I come?' },
      mentions: ['5511977776666@s.whatsapp.net'],
    });
    expect(event({ conversation: 'plain' }).quoted).toBeUndefined();
  });

  test('reactions, including a removed one, name the message reacted to', () => {
    expect(
      event({ reactionMessage: { text: '❤️', key: { id: 'M1', fromMe: true, remoteJid: PATIENT } } }),
    ).toMatchObject({
      kind: 'reaction',
      reaction: { messageId: 'M1', emoji: '❤️', messageFromMe: true },
    });
    expect(event({ reactionMessage: { text: '', key: { id: 'M1' } } }).reaction).toEqual({
      messageId: 'M1',
      emoji: '',
    });
  });

  test('edits carry the new text; revokes the deleted id', () => {
    expect(
      event({
        protocolMessage: {
          type: P.MESSAGE_EDIT,
          key: { id: 'M2' },
          editedMessage: { conversation: 'at 11' },
        },
      }),
    ).toMatchObject({ kind: 'edit', edit: { messageId: 'M2', text: 'at 11' } });
    expect(event({ protocolMessage: { type: P.REVOKE, key: { id: 'M3' } } })).toMatchObject({
      kind: 'revoke',
      revoke: { messageId: 'M3' },
    });
  });

  test('locations (pinned and live), contact cards, polls and poll votes', () => {
    expect(
      event({
        locationMessage: {
          degreesLatitude: -23.55,
          degreesLongitude: -46.63,
          name: 'Clinic',
          address: 'Av. Paulista',
        },
      }),
    ).toMatchObject({
      kind: 'location',
      location: { latitude: -23.55, longitude: -46.63, name: 'Clinic', address: 'Av. Paulista', live: false },
    });
    expect(event({ liveLocationMessage: { degreesLatitude: 1.5, degreesLongitude: 2.5 } }).location).toEqual({
      latitude: 1.5,
      longitude: 2.5,
      live: true,
    });
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Dr. Ana\nTEL:+5511900000000\nEND:VCARD';
    expect(event({ contactMessage: { displayName: 'Dr. Ana', vcard } })).toMatchObject({
      kind: 'contact',
      contacts: [{ displayName: 'Dr. Ana', vcard }],
    });
    expect(
      event({
        contactsArrayMessage: {
          contacts: [
            { displayName: 'A', vcard },
            { displayName: 'B', vcard },
          ],
        },
      }).contacts,
    ).toHaveLength(2);
    expect(
      event({
        pollCreationMessageV3: {
          name: 'Best time?',
          options: [{ optionName: '9h' }, { optionName: '14h' }],
          selectableOptionsCount: 1,
        },
      }),
    ).toMatchObject({
      kind: 'poll',
      poll: { name: 'Best time?', options: ['9h', '14h'], selectableCount: 1 },
    });
    expect(
      event({
        pollUpdateMessage: {
          pollCreationMessageKey: { id: 'POLL1' },
          vote: { encPayload: 'AAAA', encIv: 'AAAA' },
        },
      }),
    ).toMatchObject({
      kind: 'poll-vote',
      pollVote: { pollId: 'POLL1' },
    });
  });

  test('media is kind media; a group message names the group as chat and the participant as sender', () => {
    expect(event({ imageMessage: { mimetype: 'image/jpeg' } }).kind).toBe('media');
    expect(event({ conversation: 'hello all' }, { remoteJid: GROUP, participant: PATIENT })).toMatchObject({
      kind: 'text',
      chat: GROUP,
      sender: PATIENT,
    });
    expect(event({ buttonsResponseMessage: { selectedButtonId: 'x' } }).kind).toBe('other');
  });
});

test('msg.update of an edit carries the new text', () => {
  const [e] = messageUpdateEvents(
    ids,
    [
      {
        key: { remoteJid: PATIENT, id: 'M2', fromMe: false },
        update: {
          message: proto.Message.fromObject({ editedMessage: { message: { conversation: 'at 11' } } }),
        },
      },
    ],
    1_700_000_000_000,
  );
  expect(e).toMatchObject({ id: 'M2', update: 'edited', text: 'at 11' });
  expect(validatePayload('message-update', e).ok).toBe(true);
});
