import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proto } from '@whiskeysockets/baileys';
import { startSimulator, type Simulator } from './simulator.ts';
import { pairByQr, quietLibsignal, textOf, type BaileysClient } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
const clients: BaileysClient[] = [];

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-c2c-'));
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('two linked Baileys devices of different users talk through the server', async () => {
  const alice = sim.phone('15550007001', 'Alice');
  const bob = sim.phone('15550007002', 'Bob');
  const a = await pairByQr(sim, alice, { authDir: join(dir, 'a') });
  const b = await pairByQr(sim, bob, { authDir: join(dir, 'b') });
  clients.push(a, b);

  const sent = await a.sock.sendMessage(bob.jid, { text: 'hi bob' });
  const got = await b.waitForMessage((m) => m.key.id === sent!.key.id);
  expect(textOf(got)).toBe('hi bob');
  // Bob's phone got its own copy too, and its receipts (plus Bob's device's) reach Alice's device.
  expect(bob.inbox.map((m) => m.text)).toContain('hi bob');
  await waitUntil(
    () => a.statuses.get(sent!.key.id!) === proto.WebMessageInfo.Status.READ,
    10_000,
    'the read status',
  );

  const answer = await b.sock.sendMessage(alice.jid, { text: 'hi alice' });
  const back = await a.waitForMessage((m) => m.key.id === answer!.key.id);
  expect(textOf(back)).toBe('hi alice');
  expect(sim.stats().forwarded).toBe(2);
  expect(sim.problems()).toEqual([]);
});
