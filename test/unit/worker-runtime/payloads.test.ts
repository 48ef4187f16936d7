import { proto, type WAMessage } from '@whiskeysockets/baileys';
import { validatePayload } from '../../../contract/index.ts';
import {
  foldedReceipts,
  foldedStatusUpdates,
  inboundMessageEvent,
  isPublishable,
  messageUpdateEvents,
  pairingEvent,
  receiptEvents,
  statusEvent,
  updateDedupId,
} from '../../../worker/src/events/payloads.ts';

const ids = { clinicId: 'c1', channelId: 'main' };
const msg = (content: Record<string, unknown>, extra: Partial<WAMessage> = {}): WAMessage => ({
  key: { remoteJid: '5511988887777@s.whatsapp.net', fromMe: false, id: 'ID1' },
  messageTimestamp: 1_700_000_000,
  message: proto.Message.fromObject(content),
  ...extra,
});
const P = proto.Message.ProtocolMessage.Type;

describe('what reaches msg.in', () => {
  test.each([
    ['text', { conversation: 'hi' }, true],
    ['extended text', { extendedTextMessage: { text: 'hi' } }, true],
    ['image', { imageMessage: { caption: 'x', mimetype: 'image/jpeg' } }, true],
    ['reaction', { reactionMessage: { text: '👍', key: { id: 'X' } } }, true],
    ['revoke', { protocolMessage: { type: P.REVOKE, key: { id: 'X' } } }, true],
    ['edit', { protocolMessage: { type: P.MESSAGE_EDIT, key: { id: 'X' } } }, true],
    ['app state key share', { protocolMessage: { type: P.APP_STATE_SYNC_KEY_SHARE } }, false],
    ['history sync notification', { protocolMessage: { type: P.HISTORY_SYNC_NOTIFICATION } }, false],
    [
      'peer data operation',
      { protocolMessage: { type: P.PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE } },
      false,
    ],
    ['sender key only', { senderKeyDistributionMessage: { groupId: 'g' } }, false],
    ['sender key + text', { senderKeyDistributionMessage: { groupId: 'g' }, conversation: 'hi' }, true],
    ['empty', {}, false],
  ])('%s → %p', (_name, content, expected) => {
    expect(isPublishable(msg(content))).toBe(expected);
  });

  test('undecryptable stubs are not published', () => {
    expect(
      isPublishable(
        msg({ conversation: 'x' }, { messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT }),
      ),
    ).toBe(false);
  });

  test('the event carries ids, sender, text and the proto as JSON (bytes base64, longs as strings)', () => {
    const m = msg(
      { imageMessage: { caption: 'scan', mediaKey: Buffer.from([1, 2, 3]), fileLength: 12345 } },
      {
        pushName: 'P',
        key: { remoteJid: '1203@g.us', participant: '5511@s.whatsapp.net', fromMe: false, id: 'G1' },
      },
    );
    const e = inboundMessageEvent(ids, m);
    expect(e).toMatchObject({
      v: 1,
      clinicId: 'c1',
      channelId: 'main',
      id: 'G1',
      chat: '1203@g.us',
      sender: '5511@s.whatsapp.net',
      pushName: 'P',
      type: 'imageMessage',
      text: 'scan',
      timestamp: 1_700_000_000,
    });
    expect(e.message).toEqual({ imageMessage: { caption: 'scan', mediaKey: 'AQID', fileLength: '12345' } });
  });
});

describe('what reaches msg.update', () => {
  const S = proto.WebMessageInfo.Status;
  test('status changes become named updates with a dedup id per kind', () => {
    const events = messageUpdateEvents(
      ids,
      [
        {
          key: { id: 'O1', remoteJid: 'x@s.whatsapp.net', fromMe: true },
          update: { status: S.DELIVERY_ACK },
        },
        { key: { id: 'O1', remoteJid: 'x@s.whatsapp.net', fromMe: true }, update: { status: S.READ } },
        { key: { id: 'O2', remoteJid: 'x@s.whatsapp.net', fromMe: true }, update: { starred: true } },
      ],
      1_700_000_000_000,
    );
    expect(events.map((e) => [e.update, updateDedupId(e)])).toEqual([
      ['delivered', 'O1:delivered'],
      ['read', 'O1:read'],
    ]);
  });

  test('group receipts are per participant', () => {
    const events = receiptEvents(ids, [
      {
        key: { id: 'O3', remoteJid: 'g@g.us', fromMe: true },
        receipt: { userJid: 'a@s.whatsapp.net', receiptTimestamp: 5 },
      },
      {
        key: { id: 'O3', remoteJid: 'g@g.us', fromMe: true },
        receipt: { userJid: 'b@s.whatsapp.net', readTimestamp: 6 },
      },
    ]);
    expect(events.map(updateDedupId)).toEqual(['O3:delivered:a@s.whatsapp.net', 'O3:read:b@s.whatsapp.net']);
    expect(events.map((e) => e.timestamp)).toEqual([5, 6]);
  });
});

describe('every payload the worker publishes conforms to the contract schemas', () => {
  const P2 = proto.WebMessageInfo.Status;
  test('msg.in', () => {
    const samples = [
      msg({ conversation: 'hi' }),
      msg({ imageMessage: { caption: 'x', mediaKey: Buffer.from([1]), fileLength: 5 } }, { pushName: 'P' }),
      msg(
        { reactionMessage: { text: '👍', key: { id: 'X' } } },
        {
          key: {
            remoteJid: 'g@g.us',
            participant: 'a@s.whatsapp.net',
            participantAlt: '1@lid',
            fromMe: false,
            id: 'R',
          },
        },
      ),
      msg({ extendedTextMessage: { text: 'x' } }, { messageTimestamp: undefined }),
    ];
    for (const m of samples) {
      const json = JSON.parse(JSON.stringify(inboundMessageEvent(ids, m)));
      expect(validatePayload('message-in', json)).toEqual({ ok: true, value: json });
    }
  });

  test('msg.update', () => {
    const events = [
      ...messageUpdateEvents(
        ids,
        [
          {
            key: { id: 'O1', remoteJid: 'x@s.whatsapp.net', fromMe: true },
            update: { status: P2.SERVER_ACK },
          },
          { key: { id: 'O1', remoteJid: 'x@s.whatsapp.net', fromMe: true }, update: { status: P2.ERROR } },
        ],
        Date.now(),
      ),
      ...receiptEvents(ids, [
        { key: { id: 'O3', remoteJid: 'g@g.us', fromMe: true }, receipt: { userJid: 'a@s.whatsapp.net' } },
      ]),
    ];
    expect(events).toHaveLength(3);
    for (const e of events) {
      const json = JSON.parse(JSON.stringify(e));
      expect(validatePayload('message-update', json)).toEqual({ ok: true, value: json });
    }
  });

  test('status', () => {
    const full = statusEvent(
      { ...ids, worker: 'wa-c1-main' },
      {
        phase: 'Error',
        reason: 'LoggedOut',
        message: 'm',
        account: 'a@s.whatsapp.net',
        reconnects: 3,
        degraded: true,
        lastConnectedAt: new Date(0).toISOString(),
      },
      7,
      new Date(),
    );
    const bare = statusEvent(
      { ...ids, worker: 'w' },
      {
        phase: 'Pending',
        reason: undefined,
        message: undefined,
        account: undefined,
        reconnects: 0,
        degraded: false,
        lastConnectedAt: undefined,
      },
      1,
      new Date(),
    );
    for (const e of [full, bare]) {
      const json = JSON.parse(JSON.stringify(e));
      expect(validatePayload('status', json)).toEqual({ ok: true, value: json });
    }
  });

  test('qr and pairing code', () => {
    const qr = pairingEvent(ids, { type: 'qr', qr: '2@abc,def,ghi', attempt: 1, maxAttempts: 6 }, new Date());
    const code = pairingEvent(
      ids,
      { type: 'code', code: 'ABCD1234', phoneNumber: '5511999990000' },
      new Date(),
    );
    for (const e of [qr, code]) {
      const json = JSON.parse(JSON.stringify(e));
      expect(validatePayload('qr', json)).toEqual({ ok: true, value: json });
    }
  });
});

describe('receipts folded into an upsert of our own message (Baileys event buffer)', () => {
  const key = { id: '3EB0AAA', remoteJid: '5511999990000@s.whatsapp.net', fromMe: true };
  const { PENDING, SERVER_ACK, DELIVERY_ACK, READ } = proto.WebMessageInfo.Status;

  test('a read folded into the upsert reports delivered and read', () => {
    const updates = foldedStatusUpdates({ key, status: READ } as WAMessage);
    expect(updates.map((u) => u.update.status)).toEqual([DELIVERY_ACK, READ]);
    const events = messageUpdateEvents({ clinicId: 'c', channelId: 'ch' }, updates, 0);
    expect(events.map((e) => [e.id, e.update, e.fromMe])).toEqual([
      ['3EB0AAA', 'delivered', true],
      ['3EB0AAA', 'read', true],
    ]);
  });

  test("the upsert of a send as it leaves (pending, server ack) and other people's messages report nothing", () => {
    expect(foldedStatusUpdates({ key, status: PENDING } as WAMessage)).toEqual([]);
    expect(foldedStatusUpdates({ key, status: SERVER_ACK } as WAMessage)).toEqual([]);
    expect(foldedStatusUpdates({ key: { ...key, fromMe: false }, status: READ } as WAMessage)).toEqual([]);
    expect(foldedStatusUpdates({ key } as WAMessage)).toEqual([]);
  });
});

test('per-participant receipts folded into the upsert of our group message are reported per participant', () => {
  const key = { id: '3EB0BBB', remoteJid: '120363000000000001@g.us', fromMe: true };
  const m = {
    key,
    userReceipt: [
      { userJid: '5511900000001@s.whatsapp.net', receiptTimestamp: 10, readTimestamp: 12 },
      { userJid: '5511900000002@s.whatsapp.net', receiptTimestamp: 11 },
    ],
  } as WAMessage;
  const events = receiptEvents({ clinicId: 'c', channelId: 'ch' }, foldedReceipts(m));
  expect(events.map((e) => [e.participant, e.update])).toEqual([
    ['5511900000001@s.whatsapp.net', 'read'],
    ['5511900000002@s.whatsapp.net', 'delivered'],
  ]);
  expect(foldedReceipts({ ...m, key: { ...key, fromMe: false } } as WAMessage)).toEqual([]);
});
