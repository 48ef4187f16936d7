/**
 * WhatsApp's rate-overlimit, as the unmodified Baileys client meets it: the device query before
 * a message to someone new is answered 429, sendMessage throws (nothing is delivered), and the
 * phones' receive log shows what did arrive, with times. Also through the control API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSimulator } from './control/process.ts';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
let clinic: SimUser;
let client: BaileysClient;

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-rate-'));
  clinic = sim.phone('15550007001', 'Clinic');
  client = await pairByQr(sim, clinic, { authDir: join(dir, 'auth') });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('refused device queries make sendMessage throw rate-overlimit (429) and deliver nothing', async () => {
  const first = sim.contact('15550007101');
  const second = sim.contact('15550007102');
  sim.rateOverlimit({ times: 1 });
  const error = await client.sock.sendMessage(first.jid, { text: 'too soon' }).catch((e: unknown) => e);
  expect(error).toMatchObject({ message: 'rate-overlimit', data: 429 });
  expect(sim.rateLimits().refusals).toHaveLength(1);
  expect(sim.rateLimits().refusals[0]!.device).toBe(client.me);
  // The switch was for one query: the next send goes through.
  await client.sock.sendMessage(second.jid, { text: 'on time' });
  await waitUntil(() => second.inbox.length > 0, 10_000, 'the second contact');
  expect(first.inbox).toEqual([]);
  const received = sim.received(clinic.pn);
  expect(received.map((r) => [r.to, r.id])).toEqual([[second.pn, second.inbox[0]!.id]]);
  expect(received[0]!.at).toBe(second.inbox[0]!.at);
  expect(sim.problems()).toEqual([]);
});

test('a per-minute limit refuses the queries over it, per device, and {} lifts it', async () => {
  sim.rateOverlimit({ perMinute: 2 });
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const contact = sim.contact(`1555000720${i}`);
    outcomes.push(
      await client.sock.sendMessage(contact.jid, { text: `n ${i}` }).then(
        () => 'sent',
        (e: unknown) => (e as Error).message,
      ),
    );
  }
  expect(outcomes).toEqual(['sent', 'sent', 'rate-overlimit', 'rate-overlimit']);
  sim.rateOverlimit({});
  expect(sim.rateLimits().policy).toEqual({});
  await client.sock.sendMessage(sim.contact('15550007299').jid, { text: 'free again' });
});

test('the control API switches it and reports the refusals and the receive log', async () => {
  const proc = await spawnSimulator(['--user', '15550007301:Clinic']);
  try {
    await expect(proc.client.rateOverlimit({ perMinute: 5, times: 1 })).resolves.toEqual({
      policy: { perMinute: 5, times: 1 },
      refusals: [],
    });
    await expect(proc.client.rateOverlimit({ perMinute: -1 } as never)).rejects.toThrow(/perMinute/);
    await expect(proc.client.received()).resolves.toEqual([]);
    await expect(proc.client.received('not-a-number')).rejects.toThrow(/from/);
  } finally {
    await proc.stop();
  }
});
