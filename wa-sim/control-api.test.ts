import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DisconnectReason, downloadMediaMessage } from '@whiskeysockets/baileys';
import { SimulatorClientError } from './control/client.ts';
import { spawnSimulator, type SimulatorProcess } from './control/process.ts';
import { trustCaInThisProcess, trustSimulatorRoot } from './simulator.ts';
import { BaileysClient, quietLibsignal } from './testing/baileys-client.ts';
import { waitUntil } from './wait.ts';

quietLibsignal();

const CLINIC = '15550005001';
const PATIENT = '15550005002';
let dir: string;
let proc: SimulatorProcess;
const clients: BaileysClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-ctl-'));
  proc = await spawnSimulator([
    '--user',
    `${CLINIC}:Clinic`,
    '--trust-root-file',
    join(dir, 'root.hex'),
    '--media-ca-file',
    join(dir, 'media-ca.pem'),
  ]);
  trustSimulatorRoot(proc.rootPublicKey);
  trustCaInThisProcess(await readFile(join(dir, 'media-ca.pem'), 'utf8'));
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await proc?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the standalone simulator is driven over its control API', async () => {
  const api = proc.client;
  expect(await readFile(join(dir, 'root.hex'), 'utf8')).toBe(proc.rootPublicKey.toString('hex'));
  expect((await api.getUser(CLINIC)).name).toBe('Clinic');
  const patient = await api.user(PATIENT, 'Patient');

  // Pairing: the QR Baileys shows is scanned through the API.
  const options = { authDir: join(dir, 'auth') };
  const first = await BaileysClient.start(proc, options);
  clients.push(first);
  const device = await api.scanQr(CLINIC, await first.waitForQr());
  expect((await first.waitForClose()).statusCode).toBe(DisconnectReason.restartRequired);
  const client = await BaileysClient.start(proc, options);
  clients.push(client);
  await client.waitForOpen();
  expect(client.me).toBe(device);

  // Both directions.
  const sent = await api.sendText(PATIENT, CLINIC, 'hello from the patient');
  expect(sent.devices).toEqual([device]);
  const got = await client.waitForMessage((m) => m.key.id === sent.id);
  expect(got.message?.conversation).toBe('hello from the patient');
  const reply = await client.sock.sendMessage(patient.jid, { text: 'hello from the clinic' });
  const seen = await api.waitForMessage(PATIENT, (m) => m.id === reply!.key.id);
  expect(seen).toMatchObject({ text: 'hello from the clinic', fromDevice: device, ownCopy: false });
  await waitUntil(
    async () => (await api.receipts(PATIENT)).some((r) => r.id === sent.id),
    5_000,
    'the receipt',
  );

  // Media both ways, through the media host whose CA the process was given.
  const file = randomBytes(70_000);
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const sentDoc = await api.sendMedia(PATIENT, CLINIC, {
    kind: 'document',
    data: file,
    mimetype: 'application/pdf',
    fileName: 'a.pdf',
  });
  const gotDoc = await client.waitForMessage((m) => m.key.id === sentDoc.id);
  expect(gotDoc.message?.documentMessage?.url).toContain((await api.info()).mediaHost);
  expect(sha256(await downloadMediaMessage(gotDoc, 'buffer', {}))).toBe(sha256(file));
  const outDoc = await client.sock.sendMessage(patient.jid, { document: file, mimetype: 'application/pdf' });
  const seenDoc = await api.waitForMessage(PATIENT, (m) => m.id === outDoc!.key.id);
  expect(seenDoc.media).toMatchObject({ kind: 'document', size: file.length, sha256: sha256(file) });

  // The log and the counters.
  const view = await api.connections(device);
  expect(view.maxConcurrent).toBe(1);
  expect(view.live).toHaveLength(1);
  expect(await api.stats()).toMatchObject({ fromCompanions: 2, decryptFailures: 0 });

  // An ending on request.
  expect(await api.endSession(device, 'replaced')).toBe(1);
  expect((await client.waitForClose()).statusCode).toBe(DisconnectReason.connectionReplaced);
  expect(await api.problems()).toEqual({ problems: [], unhandledQueries: [] });
});

test('bad requests get a clear error and change nothing', async () => {
  const api = proc.client;
  const before = { user: await api.getUser(CLINIC), stats: await api.stats() };
  const status = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (err: SimulatorClientError) => err.status,
    );
  expect(await status(api.getUser('19999999999'))).toBe(404);
  expect(await status(api.scanQr(CLINIC, 'not a qr'))).toBe(422);
  expect(await status(api.sendText(CLINIC, '19999999999', 'hi'))).toBe(422);
  expect(await status(api.endSession(`${CLINIC}:1@s.whatsapp.net`, 'nonsense' as never))).toBe(400);
  const res = await fetch(`${proc.controlUrl}/users`, { method: 'POST', body: '[1,2' });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({ error: 'body must be a JSON object' });
  expect({ user: await api.getUser(CLINIC), stats: await api.stats() }).toEqual(before);
});
