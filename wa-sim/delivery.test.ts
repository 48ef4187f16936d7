import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal, type ClientOptions } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
let clinic: SimUser;
let patient: SimUser;
let options: ClientOptions;
let client: BaileysClient;

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-dlv-'));
  clinic = sim.phone('15550006001', 'Clinic');
  patient = sim.contact('15550006002', 'Patient');
  options = { authDir: join(dir, 'auth') };
  client = await pairByQr(sim, clinic, options);
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('messages sent while the device is offline are queued and delivered after its next login', async () => {
  client.end();
  await client.waitForClose();
  await waitUntil(() => clinic.devices()[0]!.live === 0, 5_000, 'the server to see the close');
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await patient.sendText(clinic.jid, `while away ${i}`)).id);
  expect(clinic.devices()[0]).toMatchObject({ pending: 3, delivered: 0 });
  client = await BaileysClient.start(sim, options);
  await client.waitForOpen();
  await waitUntil(() => client.received.length === 3, 10_000, 'the queued messages');
  expect(client.received.map((m) => m.key.id)).toEqual(ids);
  expect(client.received.map((m) => m.message?.conversation)).toEqual([
    'while away 0',
    'while away 1',
    'while away 2',
  ]);
  await waitUntil(() => clinic.devices()[0]!.pending === 0, 5_000, 'the queue to drain');
  expect(clinic.devices()[0]).toMatchObject({ delivered: 3, acknowledged: 3 });
});

test('a LID-addressed message arrives under the LID, with the phone number as its alternate', async () => {
  const sent = await patient.sendText(clinic.jid, 'by lid', { addressing: 'lid' });
  const got = await client.waitForMessage((m) => m.key.id === sent.id);
  expect(got.key).toMatchObject({
    remoteJid: patient.lidJid,
    remoteJidAlt: patient.jid,
    addressingMode: 'lid',
  });
  expect(got.message?.conversation).toBe('by lid');
});

test('a message Baileys cannot decrypt is asked for again (retry receipt) and resent in a new session', async () => {
  const first = await patient.sendText(clinic.jid, 'before the loss');
  await client.waitForMessage((m) => m.key.id === first.id);
  // Baileys loses its session with the contact's phone; the phone still has its own.
  await client.sock.authState.keys.set({ session: { [`${patient.lid}_1.0`]: null } });
  const lost = await patient.sendText(clinic.jid, 'after the loss');
  const got = await client.waitForMessage((m) => m.key.id === lost.id && !!m.message?.conversation);
  expect(got.message?.conversation).toBe('after the loss');
  expect(patient.receiptsReceived.some((r) => r.id === lost.id && r.type === 'retry')).toBe(true);
  expect(sim.stats().retryReceipts).toBe(1);
  await waitUntil(() => clinic.devices()[0]!.pending === 0, 5_000, 'the resend to be acknowledged');
  expect(sim.problems()).toEqual([]);
});
