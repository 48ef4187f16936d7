/**
 * How fast the simulator and an unmodified Baileys go together on this machine:
 *   bash scripts/with-node24.sh wa-sim/bench.ts [messages=500]
 * Prints pairing and login times and text throughput each way (until decrypted and
 * acknowledged on the other side). Numbers, not assertions: speed targets live in benchmarks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proto } from '@whiskeysockets/baileys';
import { startSimulator } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();
const messages = Number(process.argv[2] ?? 500);
const dir = await mkdtemp(join(tmpdir(), 'wa-sim-bench-'));
const sim = await startSimulator();
sim.trustInThisProcess();
const clinic = sim.phone('15550009001', 'Clinic');
const patient = sim.contact('15550009002', 'Patient');
const options = { authDir: join(dir, 'auth') };
const rows: Array<[string, string]> = [];
const time = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
};

const [paired, pairMs] = await time(() => pairByQr(sim, clinic, options));
rows.push(['QR pairing → open (incl. 515 restart, 812 pre-keys)', `${pairMs.toFixed(0)} ms`]);
paired.end();
await paired.waitForClose();

const logins: number[] = [];
let client: BaileysClient | undefined;
for (let i = 0; i < 5; i++) {
  client?.end();
  if (client) await client.waitForClose();
  await waitUntil(() => clinic.devices()[0]!.live === 0, 5_000, 'the close');
  const [c, ms] = await time(async () => {
    const next = await BaileysClient.start(sim, options);
    await next.waitForOpen();
    return next;
  });
  client = c;
  logins.push(ms);
}
logins.sort((a, b) => a - b);
rows.push(['login with saved creds → open (median of 5)', `${logins[2]!.toFixed(0)} ms`]);
const open = client!;

const [, outMs] = await time(async () => {
  const ids: string[] = [];
  for (let i = 0; i < messages; i++)
    ids.push((await open.sock.sendMessage(patient.jid, { text: `out ${i}` }))!.key.id!);
  await waitUntil(
    () => ids.every((id) => open.statuses.get(id) === proto.WebMessageInfo.Status.READ),
    120_000,
    'read statuses',
    5,
  );
});
rows.push([
  `Baileys → contact, ${messages} texts until read receipts`,
  `${((messages / outMs) * 1000).toFixed(0)} msg/s`,
]);

const before = sim.stats().acknowledged;
const [, inMs] = await time(async () => {
  for (let i = 0; i < messages; i++) await patient.sendText(clinic.jid, `in ${i}`);
  await waitUntil(() => sim.stats().acknowledged - before >= messages, 120_000, 'acknowledgements', 5);
});
rows.push([
  `contact → Baileys, ${messages} texts until acknowledged`,
  `${((messages / inMs) * 1000).toFixed(0)} msg/s`,
]);
rows.push(['simulator problems', String(sim.problems().length)]);

open.end();
await sim.stop();
await rm(dir, { recursive: true, force: true });
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
// Baileys leaves a 30 s pre-key upload timer behind; nothing else is pending.
process.exit(0);
