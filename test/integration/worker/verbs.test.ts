import { proto } from '@whiskeysockets/baileys';
import { validatePayload, type CommandReply } from '../../../contract/index.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import type { SimUser } from '../../../wa-sim/simulator.ts';
import {
  command,
  eventually,
  storedInbound,
  storedUpdates,
  WorkerSuite,
  type ChannelEnv,
} from './worker-harness.ts';

/**
 * Every verb through a real worker process (real NATS, MinIO, local-kms) and the unmodified
 * Baileys against the simulator, with the simulated phones seeing the effect: read receipts,
 * typing, reactions, edited text, deleted messages, replies, group messages to three
 * participants, number checks and group metadata. Every reply is checked against the contract.
 */
quietLibsignal();
const suite = new WorkerSuite('wverbs');
let env: ChannelEnv;
const PHONE = '5511900000031';
let clinic: SimUser;
let patients: SimUser[];

beforeAll(async () => {
  env = suite.envFor('front');
  clinic = suite.sim.phone(PHONE, 'Clinic');
  patients = [1, 2, 3].map((i) => suite.sim.contact(`551197777310${i}`, `Patient ${i}`));
  const paired = await suite.pair(env, 'pod-1', PHONE);
  paired.watch.stop();
});

afterEach(() => {
  expect(suite.sim.problems()).toEqual([]);
});

/** A command whose reply is valid under the contract and ok; returns its result. */
async function ok(verb: string, body: unknown): Promise<Record<string, unknown>> {
  const reply = await checked(verb, body);
  if (!reply.ok) throw new Error(`${verb} refused: ${reply.error.code} ${reply.error.message}`);
  return reply.result;
}

async function checked(verb: string, body: unknown): Promise<CommandReply> {
  const reply = await command(suite.nc, env.clinic, env.channel, verb, body);
  const valid = validatePayload('command-reply', reply);
  if (!valid.ok) throw new Error(`invalid reply to ${verb}: ${valid.errors.join('; ')}`);
  return reply;
}

/** A text the patient's phone sends, once the worker has stored it: its id. */
async function inboundFrom(patient: SimUser, text: string): Promise<string> {
  const sent = await patient.sendText(PHONE, text);
  await eventually(`"${text}" stored`, async () =>
    (await storedInbound(suite.nc, env.clinic, env.channel)).some((m) => m.msgId === sent.id),
  );
  return sent.id;
}

describe('verbs through the worker, seen by the phones', () => {
  test('read: the patient sees the read receipt', async () => {
    const patient = patients[0]!;
    patient.receipts = 'read';
    const id = await inboundFrom(patient, 'did you get my exam?');
    expect(patient.receiptsReceived.filter((r) => r.id === id && r.type === 'read')).toEqual([]);
    expect(await ok('read', { chat: `+${patient.pn}`, messages: [{ id }] })).toEqual({
      chat: patient.jid,
      read: 1,
    });
    await patient.waitForReceipt(id, 'read');
  });

  test('presence: typing, recording and paused show in the chat', async () => {
    const patient = patients[1]!;
    for (const state of ['composing', 'recording', 'paused'] as const) {
      expect(await ok('presence', { state, chat: patient.jid })).toEqual({ state, chat: patient.jid });
      await patient.waitForChatState((c) => c.from === clinic.jid && c.state === state);
    }
  });

  test('presence available is refused, clearly, while the device does not know the account name', async () => {
    // WhatsApp gives a linked device the account's push name through app-state sync, which the
    // simulator leaves out; Baileys would drop the presence silently, so the worker refuses it.
    const reply = await checked('presence', { state: 'available' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'RequestFailed' } });
    expect(!reply.ok && reply.error.message).toContain('account name');
    expect(clinic.presences).toEqual([]);
  });

  test('send with a reply, then react, edit and delete it: the patient sees each', async () => {
    const patient = patients[0]!;
    const asked = await inboundFrom(patient, 'can I come at 10?');
    const sent = await ok('send', {
      idempotencyKey: 'reply-1',
      to: patient.jid,
      text: 'yes, 10 is fine',
      replyTo: { id: asked, text: 'can I come at 10?' },
    });
    const messageId = sent.messageId as string;
    const reply = await patient.waitForMessage((m) => m.id === messageId);
    expect(reply.message.extendedTextMessage?.contextInfo).toMatchObject({
      stanzaId: asked,
      participant: patient.jid,
      quotedMessage: { conversation: 'can I come at 10?' },
    });

    const reacted = await ok('react', {
      idempotencyKey: 'react-1',
      chat: patient.jid,
      message: { id: asked },
      emoji: '👍',
    });
    const reaction = await patient.waitForMessage((m) => m.id === reacted.messageId);
    expect(reaction.message.reactionMessage).toMatchObject({ text: '👍', key: { id: asked } });
    // The same key again is the same reaction: replayed, not sent twice.
    expect(
      await ok('react', {
        idempotencyKey: 'react-1',
        chat: patient.jid,
        message: { id: asked },
        emoji: '👍',
      }),
    ).toMatchObject({ messageId: reacted.messageId, replayed: true });
    expect(
      await checked('react', {
        idempotencyKey: 'react-1',
        chat: patient.jid,
        message: { id: asked },
        emoji: '❤️',
      }),
    ).toMatchObject({ ok: false, error: { code: 'IdempotencyKeyReused' } });

    const edited = await ok('edit', {
      idempotencyKey: 'edit-1',
      chat: patient.jid,
      messageId,
      text: 'yes, 10:30 is fine',
    });
    const edit = await patient.waitForMessage((m) => m.id === edited.messageId);
    expect(edit.message.protocolMessage).toMatchObject({
      type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
      key: { id: messageId },
    });
    const editedText =
      edit.message.protocolMessage?.editedMessage?.extendedTextMessage?.text ??
      edit.message.protocolMessage?.editedMessage?.conversation;
    expect(editedText).toBe('yes, 10:30 is fine');

    const deleted = await ok('delete', {
      idempotencyKey: 'delete-1',
      chat: patient.jid,
      message: { id: messageId, fromMe: true },
    });
    const revoke = await patient.waitForMessage((m) => m.id === deleted.messageId);
    expect(revoke.message.protocolMessage).toMatchObject({
      type: proto.Message.ProtocolMessage.Type.REVOKE,
      key: { id: messageId },
    });
    expect(patient.inbox.filter((m) => m.message.reactionMessage)).toHaveLength(1);
  });

  test('send to a LID reaches the patient', async () => {
    const patient = patients[1]!;
    const sent = await ok('send', { idempotencyKey: 'lid-1', to: patient.lidJid, text: 'by LID' });
    const got = await patient.waitForMessage((m) => m.id === sent.messageId);
    expect(got.text).toBe('by LID');
  });

  test('check: on WhatsApp with JID and LID, or not', async () => {
    const patient = patients[2]!;
    expect(await ok('check', { numbers: [`+${patient.pn}`, '+5511966660000'] })).toEqual({
      results: [
        { number: patient.pn, exists: true, jid: patient.jid, lid: patient.lidJid },
        { number: '5511966660000', exists: false },
      ],
    });
  });

  test('groups: info, then a message with a mention that all three patients read', async () => {
    const group = patients[0]!.createGroup('Care team', [clinic, patients[1]!, patients[2]!]);
    const info = await ok('group-info', { group: group.jid });
    expect(info).toMatchObject({ jid: group.jid, subject: 'Care team', owner: patients[0]!.jid });
    expect((info.participants as { jid: string; admin?: string }[]).map((p) => [p.jid, p.admin])).toEqual([
      [patients[0]!.jid, 'superadmin'],
      [clinic.jid, undefined],
      [patients[1]!.jid, undefined],
      [patients[2]!.jid, undefined],
    ]);

    const sent = await ok('send', {
      idempotencyKey: 'group-1',
      to: group.jid,
      text: `results are in, @${patients[1]!.pn}`,
      mentions: [patients[1]!.jid],
    });
    for (const p of patients) {
      const got = await p.waitForMessage((m) => m.id === sent.messageId);
      expect(got).toMatchObject({
        group: group.jid,
        from: clinic.jid,
        text: `results are in, @${patients[1]!.pn}`,
      });
      expect(got.message.extendedTextMessage?.contextInfo?.mentionedJid).toEqual([patients[1]!.jid]);
    }
    // Each participant's read receipt reaches msg.update, naming the participant.
    await eventually('a read receipt from each of the three', async () => {
      const reads = (await storedUpdates(suite.nc, env.clinic, env.channel))
        .map((u) => u.event)
        .filter((u) => u.id === sent.messageId && u.update === 'read');
      const from = new Set(reads.map((u) => u.participant?.replace(/:\d+@/, '@')));
      return patients.every((p) => from.has(p.jid) || from.has(p.lidJid));
    });
    // A reaction to someone's group message names its sender.
    const theirs = await patients[2]!.sendMessage(group.jid, { conversation: 'thanks' });
    await eventually('the group message stored', async () =>
      (await storedInbound(suite.nc, env.clinic, env.channel)).some((m) => m.msgId === theirs.id),
    );
    const reacted = await ok('react', {
      idempotencyKey: 'group-react-1',
      chat: group.jid,
      message: { id: theirs.id, participant: patients[2]!.jid },
      emoji: '🙏',
    });
    const reaction = await patients[2]!.waitForMessage((m) => m.id === reacted.messageId);
    expect(reaction.message.reactionMessage?.key).toMatchObject({
      id: theirs.id,
      participant: patients[2]!.jid,
    });
  });

  test('refusals: an unknown group is NotFound; a bad field is named', async () => {
    expect(await checked('group-info', { group: '120363000000000777@g.us' })).toMatchObject({
      ok: false,
      error: { code: 'NotFound' },
    });
    const bad = await checked('read', { chat: '120363000000000777@g.us', messages: [{ id: 'X' }] });
    expect(bad).toMatchObject({ ok: false, error: { code: 'InvalidCommand' } });
    expect(!bad.ok && bad.error.message).toContain('/messages/0/participant');
  });
});

describe('inbound messages arrive typed in msg.in', () => {
  /** The patient's phone sends `message`; resolves with the stored msg.in event once it is there. */
  async function stored(patient: SimUser, to: string, message: proto.IMessage) {
    const sent = await patient.sendMessage(to, message);
    const found = await eventually(`${sent.id} stored`, async () =>
      (await storedInbound(suite.nc, env.clinic, env.channel)).find((m) => m.msgId === sent.id),
    );
    const valid = validatePayload('message-in', found.event);
    if (!valid.ok) throw new Error(`invalid msg.in: ${valid.errors.join('; ')}`);
    return { id: sent.id, event: found.event };
  }

  test('reply, reaction, edit and revoke from a patient', async () => {
    const patient = patients[1]!;
    const ours = await ok('send', { idempotencyKey: 'in-1', to: patient.jid, text: 'your exam is ready' });
    await patient.waitForMessage((m) => m.id === ours.messageId);
    const reply = await stored(patient, clinic.jid, {
      extendedTextMessage: {
        text: 'thanks!',
        contextInfo: {
          stanzaId: ours.messageId as string,
          participant: clinic.jid,
          quotedMessage: { conversation: 'your exam is ready' },
        },
      },
    });
    expect(reply.event).toMatchObject({
      kind: 'text',
      text: 'thanks!',
      quoted: { id: ours.messageId, sender: clinic.jid, text: 'your exam is ready' },
    });
    const reaction = await stored(patient, clinic.jid, {
      reactionMessage: {
        key: { remoteJid: clinic.jid, fromMe: false, id: ours.messageId as string },
        text: '🙏',
        senderTimestampMs: Date.now(),
      },
    });
    expect(reaction.event).toMatchObject({
      kind: 'reaction',
      reaction: { messageId: ours.messageId, emoji: '🙏' },
    });
    const edit = await stored(patient, clinic.jid, {
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
        key: { remoteJid: clinic.jid, fromMe: true, id: reply.id },
        editedMessage: { conversation: 'thank you!' },
        timestampMs: Date.now(),
      },
    });
    expect(edit.event).toMatchObject({ kind: 'edit', edit: { messageId: reply.id, text: 'thank you!' } });
    const revoke = await stored(patient, clinic.jid, {
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.REVOKE,
        key: { remoteJid: clinic.jid, fromMe: true, id: reaction.id },
      },
    });
    expect(revoke.event).toMatchObject({ kind: 'revoke', revoke: { messageId: reaction.id } });
    // Baileys also reports them as updates of the messages they change, with the new text.
    const updates = await eventually('the edit and the revoke on msg.update', async () => {
      const all = (await storedUpdates(suite.nc, env.clinic, env.channel)).map((u) => u.event);
      const edited = all.find((u) => u.id === reply.id && u.update === 'edited');
      const revoked = all.find((u) => u.id === reaction.id && u.update === 'revoked');
      return edited && revoked && { edited, revoked };
    });
    expect(updates.edited).toMatchObject({ fromMe: false, text: 'thank you!' });
    for (const u of Object.values(updates)) expect(validatePayload('message-update', u).ok).toBe(true);
  });

  test('location, contact card and poll from a patient; a group message with its participant', async () => {
    const patient = patients[2]!;
    const location = await stored(patient, clinic.jid, {
      locationMessage: { degreesLatitude: -23.561, degreesLongitude: -46.656, name: 'Home' },
    });
    expect(location.event).toMatchObject({
      kind: 'location',
      location: { latitude: -23.561, longitude: -46.656, name: 'Home', live: false },
    });
    const vcard = 'BEGIN:VCARD\nVERSION:3.0\nFN:Maria\nTEL:+5511911112222\nEND:VCARD';
    const contact = await stored(patient, clinic.jid, { contactMessage: { displayName: 'Maria', vcard } });
    expect(contact.event).toMatchObject({ kind: 'contact', contacts: [{ displayName: 'Maria', vcard }] });
    const poll = await stored(patient, clinic.jid, {
      pollCreationMessageV3: {
        name: 'Which day?',
        options: [{ optionName: 'Monday' }, { optionName: 'Friday' }],
        selectableOptionsCount: 1,
      },
      messageContextInfo: { messageSecret: new Uint8Array(32).fill(7) },
    });
    expect(poll.event).toMatchObject({
      kind: 'poll',
      poll: { name: 'Which day?', options: ['Monday', 'Friday'], selectableCount: 1 },
    });

    const group = clinic.createGroup('Family of P3', [patient, patients[0]!]);
    const inGroup = await stored(patient, group.jid, { conversation: 'hello from the family' });
    expect(inGroup.event).toMatchObject({ kind: 'text', chat: group.jid, text: 'hello from the family' });
    expect([inGroup.event.sender, inGroup.event.senderAlt]).toContain(patient.jid);
  });
});
