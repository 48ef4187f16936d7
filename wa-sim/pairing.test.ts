import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
const clients: BaileysClient[] = [];

beforeEach(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a new device pairs by QR code and opens after the 515 restart', async () => {
  const phone = sim.phone('15550001111', 'Clinic');
  const client = await pairByQr(sim, phone, { authDir: join(dir, 'auth') });
  clients.push(client);
  expect(client.me).toBe(`${phone.pn}:1@s.whatsapp.net`);
  expect(sim.problems()).toEqual([]);
});

test('a paired device logs in again with its saved credentials, without a QR code', async () => {
  const phone = sim.phone('15550001111', 'Clinic');
  const client = await pairByQr(sim, phone, { authDir: join(dir, 'auth') });
  client.end();
  await client.waitForClose();
  const again = await BaileysClient.start(sim, { authDir: join(dir, 'auth') });
  clients.push(again);
  await again.waitForOpen();
  expect(again.qrs).toEqual([]);
  const device = `${phone.pn}:1@s.whatsapp.net`;
  expect(sim.connections.records(device).map((r) => r.kind)).toEqual(['registration', 'login', 'login']);
  expect(phone.devices()).toMatchObject([{ jid: device, live: 1, preKeys: 812 }]);
  expect(sim.unhandledQueries()).toEqual([]);
  expect(sim.problems()).toEqual([]);
});

test('a new device pairs by code (requestPairingCode) and opens after the 515 restart', async () => {
  const phone = sim.phone('15550001112', 'Clinic');
  const options = { authDir: join(dir, 'auth') };
  const first = await BaileysClient.start(sim, options);
  clients.push(first);
  await first.waitForQr();
  const code = await first.sock.requestPairingCode(phone.pn);
  expect(code).toMatch(/^[A-Z0-9]{8}$/);
  const device = await phone.enterPairingCode(code);
  expect((await first.waitForClose()).statusCode).toBe(515);
  const client = await BaileysClient.start(sim, options);
  clients.push(client);
  await client.waitForOpen();
  expect(client.me).toBe(device);
  expect(client.sock.authState.creds.registered).toBe(true);
  expect(sim.problems()).toEqual([]);
});

test('a wrong pairing code links nothing', async () => {
  const phone = sim.phone('15550001113', 'Clinic');
  const client = await BaileysClient.start(sim, { authDir: join(dir, 'auth') });
  clients.push(client);
  await client.waitForQr();
  const code = await client.sock.requestPairingCode(phone.pn);
  const wrong = code.startsWith('A') ? `B${code.slice(1)}` : `A${code.slice(1)}`;
  await expect(phone.enterPairingCode(wrong)).rejects.toThrow('wrong pairing code');
  expect(phone.devices()).toEqual([]);
});

test('a QR code the server never issued is refused', async () => {
  const phone = sim.phone('15550001114', 'Clinic');
  const client = await BaileysClient.start(sim, { authDir: join(dir, 'auth') });
  clients.push(client);
  const [head, ...rest] = (await client.waitForQr()).split(',');
  await expect(phone.scanQr([`${head}x`, ...rest].join(','))).rejects.toThrow('not (or no longer) shown');
  expect(phone.devices()).toEqual([]);
});

test('a device that logs itself out (sock.logout) is removed and cannot log in again', async () => {
  const phone = sim.phone('15550001115', 'Clinic');
  const options = { authDir: join(dir, 'auth') };
  const client = await pairByQr(sim, phone, options);
  clients.push(client);
  const device = client.me!;
  const auth = { ...client.sock.authState.creds };
  await client.sock.logout();
  expect((await client.waitForClose()).statusCode).toBe(401);
  await waitUntil(() => phone.devices()[0]?.removed, 5_000, 'the device to be removed');
  // Baileys keeps the creds file; a login with it is refused.
  expect(auth.me?.id).toBe(device);
  const again = await BaileysClient.start(sim, options);
  clients.push(again);
  expect((await again.waitForClose()).statusCode).toBe(401);
});
