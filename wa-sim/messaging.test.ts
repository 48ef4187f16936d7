import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proto } from '@whiskeysockets/baileys';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

const COUNT = 100;
let sim: Simulator;
let dir: string;
let clinic: SimUser;
let patient: SimUser;
let client: BaileysClient;

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-msg-'));
  clinic = sim.phone('15550002001', 'Clinic');
  patient = sim.contact('15550002002', 'Patient');
  client = await pairByQr(sim, clinic, { authDir: join(dir, 'auth') });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test(`${COUNT} texts from Baileys are decrypted by the contact, and its receipts reach Baileys`, async () => {
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const sent = await client.sock.sendMessage(patient.jid, { text: `out ${i}` });
    ids.push(sent!.key.id!);
  }
  await waitUntil(() => patient.inbox.filter((m) => !m.ownCopy).length >= COUNT, 20_000, 'the contact inbox');
  const inbox = patient.inbox.filter((m) => !m.ownCopy);
  expect(inbox.map((m) => m.text)).toEqual(ids.map((_, i) => `out ${i}`));
  expect(inbox.map((m) => m.id)).toEqual(ids);
  expect(new Set(inbox.map((m) => m.fromDevice))).toEqual(new Set([client.me]));
  // Baileys also sends each message to its own phone (deviceSentMessage).
  await waitUntil(() => clinic.inbox.filter((m) => m.ownCopy).length >= COUNT, 10_000, 'own-phone copies');
  // The contact's delivery and read receipts come back as status updates.
  await waitUntil(
    () => ids.every((id) => client.statuses.get(id) === proto.WebMessageInfo.Status.READ),
    20_000,
    'read statuses',
  );
  expect(sim.stats()).toMatchObject({ fromCompanions: COUNT, serverAcks: COUNT, decryptFailures: 0 });
  await waitUntil(() => sim.stats().receiptsAcked === 2 * COUNT, 10_000, 'receipt acks');
  expect(sim.problems()).toEqual([]);
});

test('a message resent with an id the server already accepted is acked again but delivered once', async () => {
  const before = sim.stats();
  const acks: string[] = [];
  const onAck = (node: { attrs: { id?: string } }) => void acks.push(node.attrs.id ?? '');
  client.sock.ws.on('CB:ack,class:message', onAck);
  try {
    const sent = await client.sock.sendMessage(patient.jid, { text: 'said once' });
    const id = sent!.key.id!;
    await waitUntil(() => acks.includes(id), 10_000, 'the first ack');
    // What WhatsApp Web does after a reconnect with a message it never saw acked.
    await client.sock.relayMessage(patient.jid, sent!.message!, { messageId: id });
    await waitUntil(() => acks.filter((a) => a === id).length === 2, 10_000, 'the second ack');
    expect(sim.stats().duplicatesDropped - before.duplicatesDropped).toBe(1);
    expect(patient.inbox.filter((m) => m.id === id && !m.ownCopy).map((m) => m.text)).toEqual(['said once']);
    expect(clinic.inbox.filter((m) => m.id === id && m.ownCopy)).toHaveLength(1);
    // A new message still goes through.
    const next = await client.sock.sendMessage(patient.jid, { text: 'said next' });
    await waitUntil(() => patient.inbox.some((m) => m.id === next!.key.id), 10_000, 'the next message');
    expect(sim.problems()).toEqual([]);
  } finally {
    client.sock.ws.off('CB:ack,class:message', onAck);
  }
});

test(`${COUNT} texts from the contact are decrypted by Baileys, which acknowledges each`, async () => {
  const before = sim.stats();
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) ids.push((await patient.sendText(clinic.jid, `in ${i}`)).id);
  await waitUntil(() => client.received.length >= COUNT, 20_000, 'Baileys to receive all');
  expect(client.received.map((m) => m.message?.conversation)).toEqual(ids.map((_, i) => `in ${i}`));
  expect(client.received.map((m) => m.key.id)).toEqual(ids);
  await waitUntil(() => sim.stats().acknowledged - before.acknowledged === COUNT, 10_000, 'acknowledgements');
  const device = clinic.devices()[0]!;
  expect(device).toMatchObject({ pending: 0 });
  expect(sim.stats().delivered - before.delivered).toBe(COUNT);
  expect(new Set(patient.receiptsReceived.map((r) => r.id))).toEqual(new Set(ids));
  expect(sim.problems()).toEqual([]);
});
