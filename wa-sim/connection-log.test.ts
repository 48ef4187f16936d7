import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisconnectReason } from '@whiskeysockets/baileys';
import { startSimulator, type Simulator } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator | undefined;
let dir: string;
const clients: BaileysClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-log-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A paired device with two copies of its auth state, as two workers restoring the same channel would have. */
async function pairedTwice(duplicateLogin: 'replace-old' | 'allow') {
  sim = await startSimulator({ duplicateLogin });
  sim.trustInThisProcess();
  const phone = sim.phone('15550004001', 'Clinic');
  const first = await pairByQr(sim, phone, { authDir: join(dir, 'a') });
  clients.push(first);
  await cp(join(dir, 'a'), join(dir, 'b'), { recursive: true });
  return { simulator: sim, first, device: first.me! };
}

test('a second connection of the same device is caught in the log, and the first one is replaced (440)', async () => {
  const { simulator, first, device } = await pairedTwice('replace-old');
  const second = await BaileysClient.start(simulator, { authDir: join(dir, 'b') });
  clients.push(second);
  await second.waitForOpen();
  expect((await first.waitForClose()).statusCode).toBe(DisconnectReason.connectionReplaced);
  const logins = simulator.connections.records(device).filter((r) => r.kind === 'login');
  expect(logins).toHaveLength(2);
  expect(simulator.connections.overlaps(device)).toEqual([
    { device, connection: logins[1]!.id, concurrentWith: [logins[0]!.id], at: logins[1]!.liveAt },
  ]);
  expect(simulator.connections.maxConcurrent(device)).toBe(2);
  expect(logins[0]!.endReason).toBe('replaced');
});

test('with duplicates allowed, both connections stay live at once', async () => {
  const { simulator, first, device } = await pairedTwice('allow');
  const second = await BaileysClient.start(simulator, { authDir: join(dir, 'b') });
  clients.push(second);
  await second.waitForOpen();
  expect(first.isOpen).toBe(true);
  expect(simulator.connections.live(device)).toHaveLength(2);
  expect(simulator.connections.maxConcurrent(device)).toBe(2);
});

test('reconnecting after a clean close is never counted as concurrent', async () => {
  const { simulator, first, device } = await pairedTwice('replace-old');
  for (let i = 0; i < 3; i++) {
    const previous = clients.at(-1)!;
    previous.end();
    await previous.waitForClose();
    await waitUntil(
      () => simulator.connections.live(device).length === 0,
      5_000,
      'the server to see the close',
    );
    const next = await BaileysClient.start(simulator, { authDir: join(dir, 'a') });
    clients.push(next);
    await next.waitForOpen();
  }
  expect(first.isOpen).toBe(false);
  expect(simulator.connections.records(device).filter((r) => r.kind === 'login')).toHaveLength(4);
  expect(simulator.connections.overlaps(device)).toEqual([]);
  expect(simulator.connections.maxConcurrent(device)).toBe(1);
});
