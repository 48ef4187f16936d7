import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisconnectReason } from '@whiskeysockets/baileys';
import { ENDINGS, startSimulator, type EndingName, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal, type ClientOptions } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
let phone: SimUser;
let device: string;
let options: ClientOptions;
const clients: BaileysClient[] = [];

async function connect(): Promise<BaileysClient> {
  const client = await BaileysClient.start(sim, options);
  clients.push(client);
  await client.waitForOpen();
  return client;
}

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-end-'));
  phone = sim.phone('15550003001', 'Clinic');
  // A short keep-alive so that a silent server is detected in seconds, not a minute.
  options = { authDir: join(dir, 'auth'), config: { keepAliveIntervalMs: 1_000 } };
  const paired = await pairByQr(sim, phone, options);
  device = paired.me!;
  paired.end();
  await paired.waitForClose();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

// Each server-side ending and the DisconnectReason Baileys must report for it.
const expected: Record<Exclude<EndingName, 'logged-out'>, number> = {
  replaced: DisconnectReason.connectionReplaced,
  'restart-required': DisconnectReason.restartRequired,
  unavailable: DisconnectReason.unavailableService,
  'bad-session': DisconnectReason.badSession,
  'multidevice-mismatch': DisconnectReason.multideviceMismatch,
  'stream-end': DisconnectReason.connectionClosed,
  dropped: DisconnectReason.connectionClosed,
  silence: DisconnectReason.connectionLost,
};

test.each(Object.entries(expected))('%s ends the connection with status %i', async (ending, status) => {
  const client = await connect();
  expect(sim.endSession(device, ending as EndingName)).toBe(1);
  const close = await client.waitForClose(15_000);
  expect(close.statusCode).toBe(status);
  expect(ENDINGS[ending as EndingName].statusCode).toBe(status);
  // The server sees the socket close on its own schedule, not necessarily before the client does.
  const record = await waitUntil(
    () => sim.connections.records(device).find((r) => r.closedAt !== undefined && r.endReason === ending),
    10_000,
    'the closed connection in the log',
  );
  expect(record.kind).toBe('login');
});

test('a refused login surfaces as the refusal code', async () => {
  sim.refuseLogins(device, DisconnectReason.forbidden);
  const client = await BaileysClient.start(sim, options);
  clients.push(client);
  expect((await client.waitForClose()).statusCode).toBe(DisconnectReason.forbidden);
  await connect();
});

test('logged out: the connection ends with 401 and the device can no longer log in', async () => {
  const client = await connect();
  expect(sim.endSession(device, 'logged-out')).toBe(1);
  expect((await client.waitForClose()).statusCode).toBe(DisconnectReason.loggedOut);
  expect(phone.devices()).toMatchObject([{ jid: device, removed: true, live: 0 }]);
  const again = await BaileysClient.start(sim, options);
  clients.push(again);
  expect((await again.waitForClose()).statusCode).toBe(DisconnectReason.loggedOut);
  expect(sim.connections.records(device).at(-1)).toMatchObject({
    kind: 'rejected',
    endReason: 'failure-401',
  });
});
