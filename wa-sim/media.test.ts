import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadContentFromMessage, downloadMediaMessage, type WAMessage } from '@whiskeysockets/baileys';
import { startSimulator, type Simulator, type SimUser } from './simulator.ts';
import { BaileysClient, pairByQr, quietLibsignal } from './testing/baileys-client.ts';

quietLibsignal();

let sim: Simulator;
let dir: string;
let clinic: SimUser;
let patient: SimUser;
let client: BaileysClient;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  sim = await startSimulator();
  sim.trustInThisProcess();
  dir = await mkdtemp(join(tmpdir(), 'wa-sim-media-'));
  clinic = sim.phone('15550003001', 'Clinic');
  patient = sim.contact('15550003002', 'Patient');
  client = await pairByQr(sim, clinic, { authDir: join(dir, 'auth') });
});

afterAll(async () => {
  await client?.close();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function fromPatient(
  media: Parameters<SimUser['sendMedia']>[1],
): Promise<{ sentId: string; received: WAMessage }> {
  const sent = await patient.sendMedia(clinic.jid, media);
  const received = await client.waitForMessage((m) => m.key.id === sent.id);
  return { sentId: sent.id, received };
}

test("a phone's document reaches Baileys, which downloads and decrypts it byte-identical", async () => {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7 sim\n'), randomBytes(300_000)]);
  const { received } = await fromPatient({
    kind: 'document',
    data: pdf,
    mimetype: 'application/pdf',
    fileName: 'exam.pdf',
    caption: 'my exam',
  });
  const doc = received.message?.documentMessage;
  expect(doc).toMatchObject({ mimetype: 'application/pdf', fileName: 'exam.pdf', caption: 'my exam' });
  expect(Number(doc?.fileLength)).toBe(pdf.length);
  expect(doc?.url).toContain(sim.media.hostname);
  const bytes = await downloadMediaMessage(received, 'buffer', {});
  expect(sha256(bytes)).toBe(sha256(pdf));
  expect(Buffer.from(doc!.fileSha256!).toString('hex')).toBe(sha256(pdf));
  // What the host stores is the ciphertext (with its MAC), whose hash the message names.
  const stored = sim.media.get(doc!.directPath!)!;
  expect(sha256(stored)).toBe(Buffer.from(doc!.fileEncSha256!).toString('hex'));
  expect(stored.includes(Buffer.from('%PDF-1.7 sim'))).toBe(false);
});

test('ranged downloads get the bytes asked for; a host ignoring Range gives wrong bytes', async () => {
  const data = randomBytes(100_000);
  const { received } = await fromPatient({ kind: 'video', data, mimetype: 'video/mp4', seconds: 4 });
  const video = received.message!.videoMessage!;
  expect(video.seconds).toBe(4);
  const ranged = sim.media.stats().rangedDownloads;
  const slice = await readAll(
    await downloadContentFromMessage(video, 'video', { startByte: 40_000, endByte: 50_000 }),
  );
  expect(slice.equals(data.subarray(40_000, 50_000))).toBe(true);
  expect(sim.media.stats().rangedDownloads).toBe(ranged + 1);
  // Baileys itself does not notice a host that ignores Range (why the worker checks hashes).
  sim.media.setIgnoreRange(true);
  try {
    const wrong = await readAll(
      await downloadContentFromMessage(video, 'video', { startByte: 40_000, endByte: 50_000 }),
    );
    expect(wrong.equals(data.subarray(40_000, 50_000))).toBe(false);
  } finally {
    sim.media.setIgnoreRange(false);
  }
});

test('Baileys uploads a document and a voice note through media_conn; the phone decrypts both', async () => {
  const pdf = randomBytes(200_000);
  const voice = randomBytes(30_000);
  const doc = await client.sock.sendMessage(patient.jid, {
    document: pdf,
    mimetype: 'application/pdf',
    fileName: 'result.pdf',
    caption: 'your result',
  });
  const ptt = await client.sock.sendMessage(patient.jid, {
    audio: voice,
    mimetype: 'audio/ogg; codecs=opus',
    ptt: true,
    seconds: 3,
  });
  const gotDoc = await patient.waitForMessage((m) => m.id === doc!.key.id && !m.ownCopy);
  const gotPtt = await patient.waitForMessage((m) => m.id === ptt!.key.id && !m.ownCopy);
  expect(gotDoc.media).toMatchObject({ kind: 'document', fileName: 'result.pdf', caption: 'your result' });
  expect(sha256(gotDoc.media!.data!)).toBe(sha256(pdf));
  expect(gotPtt.media).toMatchObject({ kind: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus' });
  expect(sha256(gotPtt.media!.data!)).toBe(sha256(voice));
  expect(sim.media.stats().uploads).toBeGreaterThanOrEqual(2);
  expect(sim.unhandledQueries()).toEqual([]);
  expect(sim.problems()).toEqual([]);
});

test('expired media: the download fails, the re-upload request brings it back under a new path', async () => {
  const data = randomBytes(50_000);
  const { received } = await fromPatient({
    kind: 'image',
    data,
    mimetype: 'image/jpeg',
    width: 4,
    height: 3,
  });
  const oldPath = received.message!.imageMessage!.directPath!;
  expect(sim.media.expire(oldPath)).toBe(true);
  await expect(downloadMediaMessage(received, 'buffer', {})).rejects.toThrow(/404|Failed to fetch/);
  const updated = await client.sock.updateMediaMessage(received);
  const newPath = updated.message!.imageMessage!.directPath!;
  expect(newPath).not.toBe(oldPath);
  const bytes = await downloadMediaMessage(updated, 'buffer', {});
  expect(sha256(bytes)).toBe(sha256(data));
});

test('a re-upload request for a message the phone never sent is answered not-found', async () => {
  const fake = {
    key: { remoteJid: patient.jid, fromMe: false, id: '3AFFFFFFFFFFFFFFFFFF' },
    message: {
      imageMessage: { mediaKey: randomBytes(32), directPath: '/v/none.enc', url: 'https://x/v/none.enc' },
    },
  } as WAMessage;
  await expect(client.sock.updateMediaMessage(fake)).rejects.toThrow(/re-upload/);
});

test('while the media host is down a download fails; once it is back it succeeds', async () => {
  const data = randomBytes(10_000);
  const { received } = await fromPatient({ kind: 'sticker', data, mimetype: 'image/webp' });
  sim.media.setAvailable(false);
  try {
    await expect(downloadMediaMessage(received, 'buffer', {})).rejects.toThrow();
  } finally {
    sim.media.setAvailable(true);
  }
  expect(sha256(await downloadMediaMessage(received, 'buffer', {}))).toBe(sha256(data));
});
