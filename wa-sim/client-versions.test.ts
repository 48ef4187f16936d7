/**
 * The simulator refuses client versions it was told to refuse, the way WhatsApp refuses an
 * outdated WhatsApp Web client: `<failure reason=405>` at login (and at registration), which
 * unmodified Baileys reports as status 405 (Baileys has no DisconnectReason name for it; the
 * worker calls it ClientVersionRejected). The version is the one Baileys puts in
 * its login payload (its `version` option).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONNECTION_CONFIG } from '@whiskeysockets/baileys';
import { SimulatorClient } from './control/client.ts';
import { startControlServer, type ControlServer } from './control/http-api.ts';
import { CLIENT_OUTDATED } from './server/client-versions.ts';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal, type ClientOptions } from './testing/baileys-client.ts';

quietLibsignal();

const OLD: [number, number, number] = [2, 3000, 1011];
const NEW: [number, number, number] = [2, 3000, 2022];
const BUILT_IN = DEFAULT_CONNECTION_CONFIG.version.join('.');

let sim: Simulator;
let control: ControlServer;
let api: SimulatorClient;
let dir: string;
let phone: SimUser;
let device: string;
const clients: BaileysClient[] = [];

const withVersion = (version: [number, number, number]): ClientOptions => ({
  authDir: join(dir, 'auth'),
  config: { version },
});

async function start(options: ClientOptions): Promise<BaileysClient> {
  const client = await BaileysClient.start(sim, options);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  control = await startControlServer(sim);
  api = new SimulatorClient(control.url);
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-versions-'));
  phone = sim.phone('15550004001', 'Clinic');
  const paired = await pairByQr(sim, phone, withVersion(OLD));
  device = paired.me!;
  paired.end();
  await paired.waitForClose();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  sim.setClientVersions({});
});

afterAll(async () => {
  await control?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('every version gets in by default, and the log records the announced one', async () => {
  const client = await start(withVersion(OLD));
  await client.waitForOpen();
  const login = sim.connections.live(device).at(-1)!;
  expect(login.version).toBe(OLD.join('.'));
});

test('a refused version is ended with 405 at login; the same device then logs in with another version', async () => {
  sim.setClientVersions({ refused: [OLD.join('.')] });
  const refused = await start(withVersion(OLD));
  const close = await refused.waitForClose();
  expect(close.statusCode).toBe(CLIENT_OUTDATED);
  const record = sim.connections.records(device).at(-1)!;
  expect(record).toMatchObject({ kind: 'rejected', version: OLD.join('.'), endReason: 'failure-405' });
  expect(sim.connections.live(device)).toEqual([]);

  // The link is untouched: a current version logs in with the same credentials, no new QR.
  const current = await start(withVersion(NEW));
  await current.waitForOpen();
  expect(current.qrs).toEqual([]);
  expect(sim.connections.live(device).map((r) => r.version)).toEqual([NEW.join('.')]);
});

test('an accept list refuses every other version, including Baileys’ built-in one', async () => {
  sim.setClientVersions({ accepted: [NEW.join('.')] });
  const builtIn = await start({ authDir: join(dir, 'auth') });
  expect((await builtIn.waitForClose()).statusCode).toBe(CLIENT_OUTDATED);
  expect(sim.connections.records(device).at(-1)).toMatchObject({ version: BUILT_IN, kind: 'rejected' });
  const current = await start(withVersion(NEW));
  await current.waitForOpen();
});

test('a refused version cannot register a new device either', async () => {
  sim.setClientVersions({ refused: [OLD.join('.')] });
  const fresh = await start({ authDir: join(dir, 'fresh'), config: { version: OLD } });
  expect((await fresh.waitForClose()).statusCode).toBe(CLIENT_OUTDATED);
  expect(fresh.qrs).toEqual([]);
  const record = sim.connections.records().at(-1)!;
  expect(record).toMatchObject({ kind: 'rejected', version: OLD.join('.'), endReason: 'failure-405' });
});

test('the control API sets and reads the policy, and checks its input', async () => {
  expect(await api.setClientVersions({ refused: [OLD.join('.')] })).toEqual({ refused: [OLD.join('.')] });
  expect(sim.clientVersions()).toEqual({ refused: [OLD.join('.')] });
  expect(await api.clientVersions()).toEqual({ refused: [OLD.join('.')] });
  await expect(api.setClientVersions({ refused: ['2.x'] })).rejects.toMatchObject({ status: 400 });
  expect(await api.setClientVersions({})).toEqual({});
  const client = await start(withVersion(OLD));
  await client.waitForOpen();
});
