/**
 * The everyday actions with the unmodified Baileys against the simulator: group metadata and
 * group messages with sender keys both ways, reactions, edits, revokes, typing, read receipts,
 * available, and "is this number on WhatsApp".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proto, USyncQuery, USyncUser } from '@whiskeysockets/baileys';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
let clinic: SimUser;
let patients: SimUser[];
let client: BaileysClient;

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-verbs-'));
  clinic = sim.phone('15550003001', 'Clinic');
  patients = [1, 2, 3].map((i) => sim.contact(`1555000310${i}`, `Patient ${i}`));
  client = await pairByQr(sim, clinic, { authDir: join(dir, 'auth') });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  expect(sim.problems()).toEqual([]);
  expect(sim.unhandledQueries()).toEqual([]);
});

describe('groups', () => {
  test('metadata: subject and participants with roles; an unknown group is a 404', async () => {
    const group = clinic.createGroup('Care team', patients);
    const meta = await client.sock.groupMetadata(group.jid);
    expect(meta.subject).toBe('Care team');
    expect(meta.participants.map((p) => [p.id, p.admin])).toEqual([
      [clinic.jid, 'superadmin'],
      ...patients.map((p) => [p.jid, null]),
    ]);
    await expect(client.sock.groupMetadata('120363000000000999@g.us')).rejects.toMatchObject({ data: 404 });
  });

  test('Baileys → group: one skmsg, read by all three phones; a second message uses the same sender key', async () => {
    const group = patients[0]!.createGroup('Family', [clinic, patients[1]!, patients[2]!]);
    for (const text of ['first to the group', 'second to the group']) {
      const sent = await client.sock.sendMessage(group.jid, { text });
      for (const p of patients) {
        const got = await p.waitForMessage((m) => m.id === sent!.key.id);
        expect(got).toMatchObject({ text, group: group.jid, from: clinic.jid, ownCopy: false });
      }
    }
  });

  test('phone → group: Baileys decrypts it with the participant', async () => {
    const group = clinic.createGroup('Ward', patients);
    const sent = await patients[1]!.sendMessage(group.jid, { conversation: 'hello group' });
    await waitUntil(() => client.received.find((m) => m.key.id === sent.id), 10_000, 'the group message');
    const got = client.received.find((m) => m.key.id === sent.id)!;
    expect(got.key.remoteJid).toBe(group.jid);
    expect([got.key.participant, got.key.participantAlt]).toContain(patients[1]!.jid);
    expect(got.message?.conversation).toBe('hello group');
  });
});

describe('actions on messages', () => {
  test('react, edit and revoke reach the phone as the messages WhatsApp shows', async () => {
    const patient = patients[0]!;
    const original = (await client.sock.sendMessage(patient.jid, { text: 'appointment at 10' }))!;
    await patient.waitForMessage((m) => m.id === original.key.id);
    await client.sock.sendMessage(patient.jid, { react: { text: '👍', key: original.key } });
    const reaction = await patient.waitForMessage((m) => !!m.message.reactionMessage);
    expect(reaction.message.reactionMessage).toMatchObject({ text: '👍', key: { id: original.key.id } });

    await client.sock.sendMessage(patient.jid, { text: 'appointment at 11', edit: original.key });
    const edit = await patient.waitForMessage(
      (m) => m.message.protocolMessage?.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
    );
    expect(edit.message.protocolMessage?.key?.id).toBe(original.key.id);
    expect(
      edit.message.protocolMessage?.editedMessage?.extendedTextMessage?.text ??
        edit.message.protocolMessage?.editedMessage?.conversation,
    ).toBe('appointment at 11');

    await client.sock.sendMessage(patient.jid, { delete: original.key });
    const revoke = await patient.waitForMessage(
      (m) => m.message.protocolMessage?.type === proto.Message.ProtocolMessage.Type.REVOKE,
    );
    expect(revoke.message.protocolMessage?.key?.id).toBe(original.key.id);
  });

  test('read receipts, typing, recording and paused reach the phone', async () => {
    const patient = patients[2]!;
    const sent = await patient.sendText(clinic.jid, 'are you there?');
    await waitUntil(() => client.received.find((m) => m.key.id === sent.id), 10_000, 'the message');
    const got = client.received.find((m) => m.key.id === sent.id)!;
    await client.sock.readMessages([got.key]);
    await patient.waitForReceipt(sent.id, 'read');
    for (const state of ['composing', 'recording', 'paused'] as const) {
      await client.sock.sendPresenceUpdate(state, patient.jid);
      await patient.waitForChatState((c) => c.from === clinic.jid && c.state === state);
    }
  });

  test('usync: on WhatsApp with its LID, or not', async () => {
    const query = new USyncQuery().withContactProtocol().withLIDProtocol();
    query.withUser(new USyncUser().withPhone(`+${patients[0]!.pn}`));
    query.withUser(new USyncUser().withPhone('+15559999999'));
    const answer = await client.sock.executeUSyncQuery(query);
    expect(answer?.list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: patients[0]!.jid, contact: true, lid: patients[0]!.lidJid }),
        expect.objectContaining({ id: '15559999999@s.whatsapp.net', contact: false }),
      ]),
    );
  });
});
