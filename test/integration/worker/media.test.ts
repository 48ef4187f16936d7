import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStack } from '../../harness/stack.ts';
import { fails, waCli } from '../../harness/wa-cli.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import type { InboundMessageEvent, MessageUpdateEvent } from '../../../contract/index.ts';
import { channelSubjects } from '../../../contract/index.ts';
import { mediaFolderName } from '../../../contract/state-layout.ts';
import {
  command,
  eventually,
  storedInbound,
  WorkerSuite,
  type ChannelEnv,
  type WorkerProcess,
} from './worker-harness.ts';

/**
 * Attachments through a real worker process, the unmodified Baileys, MinIO, local-kms and NATS:
 * a patient's PDF and voice note reach the backend byte-identical with nothing readable in the
 * bucket; the backend's PDF and voice note reach the patient's phone; a download that fails is
 * published as failed and fetched again later (with a re-upload by the phone when the file has
 * expired); a worker killed mid-download loses nothing and leaves nothing marked complete.
 */

quietLibsignal();
const suite = new WorkerSuite('wmedia');
let env: ChannelEnv;
const workers: WorkerProcess[] = [];
const PHONE = '5511900000031';
const PATIENT = '5511977770031';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  env = suite.envFor('media');
  const paired = await suite.pair(env, 'pod-1', PHONE);
  workers.push(paired.worker);
  paired.watch.stop();
});

afterEach(() => {
  suite.sim.media.setAvailable(true);
  suite.sim.media.setDownloadRate(undefined);
});

/** A PDF-looking file of `size` bytes with a marker a bucket scan can look for. */
function pdf(size: number, marker: string): Buffer {
  const head = Buffer.from(`%PDF-1.7\n% ${marker}\n`);
  const body = randomBytes(size - 2 * head.length);
  return Buffer.concat([head, body, head]);
}

async function inboundEvent(id: string, ms = 60_000): Promise<InboundMessageEvent> {
  return eventually(
    `msg.in ${id}`,
    async () => {
      const all = await storedInbound(suite.nc, env.clinic, env.channel);
      return all.find((m) => m.msgId === id)?.event;
    },
    ms,
  );
}

/** The backend reads a stored file piece by piece with media-get. */
async function download(ref: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let offset = 0; ;) {
    const reply = await command(suite.nc, env.clinic, env.channel, 'media-get', { media: ref, offset });
    if (!reply.ok) throw new Error(`media-get: ${JSON.stringify(reply.error)}`);
    const data = Buffer.from(String(reply.result.data), 'base64');
    pieces.push(data);
    offset += data.length;
    if (reply.result.eof) break;
  }
  return Buffer.concat(pieces);
}

/** Every object of the bucket, raw, to look for plaintext. */
async function rawObjects(): Promise<{ key: string; body: Buffer }[]> {
  const out: { key: string; body: Buffer }[] = [];
  for (const o of await suite.storage.store.list('')) {
    const got = await suite.storage.store.get(o.key);
    if (got) out.push({ key: o.key, body: Buffer.from(got.body) });
  }
  return out;
}

test("a patient's 5 MB PDF and voice note reach the backend byte-identical; the bucket holds no plaintext", async () => {
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const marker = `MARKER-${randomBytes(8).toString('hex')}`;
  const file = pdf(5 * 1024 * 1024, marker);
  const voice = Buffer.concat([Buffer.from(`OggS ${marker}`), randomBytes(40_000)]);
  const sentPdf = await patient.sendMedia(PHONE, {
    kind: 'document',
    data: file,
    mimetype: 'application/pdf',
    fileName: 'exam.pdf',
    caption: 'my exam',
  });
  const sentVoice = await patient.sendMedia(PHONE, {
    kind: 'audio',
    data: voice,
    mimetype: 'audio/ogg; codecs=opus',
    ptt: true,
    seconds: 7,
  });
  const pdfEvent = await inboundEvent(sentPdf.id);
  expect(pdfEvent.media).toMatchObject({
    state: 'stored',
    kind: 'document',
    mimetype: 'application/pdf',
    fileName: 'exam.pdf',
    caption: 'my exam',
    size: file.length,
    sha256: sha256(file),
    ref: `in:${sentPdf.id}`,
  });
  const voiceEvent = await inboundEvent(sentVoice.id);
  expect(voiceEvent.media).toMatchObject({
    state: 'stored',
    kind: 'audio',
    ptt: true,
    seconds: 7,
    sha256: sha256(voice),
  });

  expect(sha256(await download(pdfEvent.media!.ref))).toBe(sha256(file));
  expect(sha256(await download(voiceEvent.media!.ref))).toBe(sha256(voice));

  // Nothing readable at rest: the marker is in no object, and the file's pieces are in the bucket.
  const objects = await rawObjects();
  expect(objects.filter((o) => o.key.includes('/media/')).length).toBeGreaterThanOrEqual(7);
  expect(objects.filter((o) => o.body.includes(Buffer.from(marker))).map((o) => o.key)).toEqual([]);
  expect(objects.filter((o) => o.body.includes(file.subarray(1000, 1064))).map((o) => o.key)).toEqual([]);
});

test('the backend uploads a 5 MB PDF and sends it and a voice note; the phone gets both byte-identical', async () => {
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const file = pdf(5 * 1024 * 1024, 'OUTBOUND');
  const piece = 512 * 1024;
  let last: Record<string, unknown> = {};
  for (let part = 0; part * piece < file.length; part++) {
    const isLast = (part + 1) * piece >= file.length;
    const reply = await command(suite.nc, env.clinic, env.channel, 'media-upload', {
      uploadId: 'result-1',
      part,
      data: file.subarray(part * piece, (part + 1) * piece).toString('base64'),
      ...(isLast ? { last: true, mimetype: 'application/pdf' } : {}),
    });
    expect(reply).toMatchObject({ ok: true });
    if (reply.ok) last = reply.result;
  }
  expect(last).toMatchObject({ media: 'up:result-1', size: file.length, sha256: sha256(file) });

  const sendPdf = await command(suite.nc, env.clinic, env.channel, 'send', {
    idempotencyKey: 'media-out-1',
    to: `+${PATIENT}`,
    media: { kind: 'document', stored: 'up:result-1', fileName: 'result.pdf', caption: 'your result' },
  });
  expect(sendPdf).toMatchObject({ ok: true });
  const voice = randomBytes(30_000);
  const sendVoice = await command(suite.nc, env.clinic, env.channel, 'send', {
    idempotencyKey: 'media-out-2',
    to: `+${PATIENT}`,
    media: { kind: 'audio', ptt: true, data: voice.toString('base64'), seconds: 3 },
  });
  expect(sendVoice).toMatchObject({ ok: true });
  const gotPdf = await patient.waitForMessage(
    (m) => sendPdf.ok && m.id === sendPdf.result.messageId && !m.ownCopy,
    60_000,
  );
  expect(gotPdf.media).toMatchObject({
    kind: 'document',
    fileName: 'result.pdf',
    caption: 'your result',
    mimetype: 'application/pdf',
  });
  expect(sha256(gotPdf.media!.data!)).toBe(sha256(file));
  const gotVoice = await patient.waitForMessage(
    (m) => sendVoice.ok && m.id === sendVoice.result.messageId && !m.ownCopy,
    30_000,
  );
  expect(gotVoice.media).toMatchObject({ kind: 'audio', ptt: true, mimetype: 'audio/ogg; codecs=opus' });
  expect(sha256(gotVoice.media!.data!)).toBe(sha256(voice));
  // An image goes without a thumbnail (no image library in the worker) and arrives whole.
  const image = randomBytes(50_000);
  const sendImage = await command(suite.nc, env.clinic, env.channel, 'send', {
    idempotencyKey: 'media-out-3',
    to: `+${PATIENT}`,
    media: { kind: 'image', data: image.toString('base64'), caption: 'prescription' },
  });
  expect(sendImage).toMatchObject({ ok: true });
  const gotImage = await patient.waitForMessage(
    (m) => sendImage.ok && m.id === sendImage.result.messageId && !m.ownCopy,
    30_000,
  );
  expect(gotImage.media).toMatchObject({ kind: 'image', caption: 'prescription', mimetype: 'image/jpeg' });
  expect(sha256(gotImage.media!.data!)).toBe(sha256(image));
  // A stored file that does not exist is NotFound, and nothing is sent.
  const missing = await command(suite.nc, env.clinic, env.channel, 'send', {
    idempotencyKey: 'media-out-4',
    to: `+${PATIENT}`,
    media: { kind: 'document', stored: 'up:nope' },
  });
  expect(missing).toMatchObject({ ok: false, error: { code: 'NotFound' } });
});

test('a failed download is still published, marked failed; media-fetch gets it later, re-uploaded by the phone', async () => {
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const updates: MessageUpdateEvent[] = [];
  const sub = suite.nc.subscribe(channelSubjects(env.clinic, env.channel).msgUpdate, {
    callback: (_e, m) => updates.push(m.json<MessageUpdateEvent>()),
  });
  const file = randomBytes(300_000);
  suite.sim.media.setAvailable(false);
  const sent = await patient.sendMedia(PHONE, {
    kind: 'image',
    data: file,
    mimetype: 'image/jpeg',
    caption: 'rash',
  });
  const event = await inboundEvent(sent.id);
  expect(event.media).toMatchObject({
    state: 'failed',
    kind: 'image',
    caption: 'rash',
    sha256: sha256(file),
  });
  expect(event.media!.error).toMatch(/503/);
  const notYet = await command(suite.nc, env.clinic, env.channel, 'media-get', { media: event.media!.ref });
  expect(notYet).toMatchObject({ ok: false, error: { code: 'NotFound' } });

  // Meanwhile WhatsApp forgot the upload: the retry needs the phone to upload it again.
  const url = (event.message as { imageMessage: { url: string } }).imageMessage.url;
  expect(suite.sim.media.expire(url)).toBe(true);
  suite.sim.media.setAvailable(true);
  const fetched = await command(
    suite.nc,
    env.clinic,
    env.channel,
    'media-fetch',
    { messageId: sent.id },
    60_000,
  );
  expect(fetched).toMatchObject({
    ok: true,
    result: { state: 'stored', size: file.length, sha256: sha256(file) },
  });
  expect(sha256(await download(`in:${sent.id}`))).toBe(sha256(file));
  await eventually('the media update', async () =>
    updates.find((u) => u.id === sent.id && u.update === 'media'),
  );
  sub.unsubscribe();
  const again = await command(suite.nc, env.clinic, env.channel, 'media-fetch', { messageId: 'NOSUCHID' });
  expect(again).toMatchObject({ ok: false, error: { code: 'NotFound' } });
});

test('a worker SIGKILLed mid-download loses no message and leaves nothing marked complete', async () => {
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const file = randomBytes(4 * 1024 * 1024);
  suite.sim.media.setDownloadRate(512 * 1024);
  const before = suite.sim.media.stats().downloads;
  const sent = await patient.sendMedia(PHONE, {
    kind: 'document',
    data: file,
    mimetype: 'application/zip',
    fileName: 'x.zip',
  });
  await eventually('the download started', async () => suite.sim.media.stats().downloads > before);
  // Let a few pieces land in the bucket, then kill the worker.
  const folder = mediaFolderName(`in:${sent.id}`);
  const mine = async () =>
    (await suite.storage.store.list('')).map((o) => o.key).filter((k) => k.includes(folder));
  await eventually('pieces stored', async () => (await mine()).some((k) => k.includes('/part/')), 30_000);
  const worker = workers.at(-1)!;
  worker.kill('SIGKILL');
  await worker.exited;
  expect((await storedInbound(suite.nc, env.clinic, env.channel)).some((m) => m.msgId === sent.id)).toBe(
    false,
  );
  // Pieces were written, but nothing of this file is complete: no manifest.
  const left = await mine();
  expect(left.some((k) => k.includes('/part/'))).toBe(true);
  expect(left.filter((k) => k.endsWith('/manifest'))).toEqual([]);

  suite.sim.media.setDownloadRate(undefined);
  workers.push(await suite.startWorker(env, 'pod-1'));
  const event = await inboundEvent(sent.id, 90_000);
  expect(event.media).toMatchObject({ state: 'stored', sha256: sha256(file), size: file.length });
  expect(sha256(await download(`in:${sent.id}`))).toBe(sha256(file));
  const stored = (await storedInbound(suite.nc, env.clinic, env.channel)).filter((m) => m.msgId === sent.id);
  expect(stored).toHaveLength(1);
  expect((await mine()).filter((k) => k.endsWith('/manifest'))).toHaveLength(1);
});

test('wa send --file and wa media get move files both ways, checked by SHA-256', async () => {
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const dir = await mkdtemp(join(tmpdir(), 'wa-media-cli-'));
  const wa = waCli(['--server', testStack().nats.url, '--timeout', '30']);
  try {
    // Out: a 1.3 MB PDF (uploaded in three pieces first) and a small voice note (in the send).
    const big = pdf(1_300_000, 'CLI-OUT');
    const note = randomBytes(20_000);
    await writeFile(join(dir, 'report.pdf'), big);
    await writeFile(join(dir, 'note.ogg'), note);
    const target = `${env.clinic}/${env.channel}`;
    const sentPdf = await wa(
      '--json',
      'send',
      target,
      `+${PATIENT}`,
      '--file',
      join(dir, 'report.pdf'),
      '--caption',
      'report',
    );
    const pdfId = (JSON.parse(sentPdf.stdout) as { result: { messageId: string } }).result.messageId;
    const sentNote = await wa(
      '--json',
      'send',
      target,
      `+${PATIENT}`,
      '--file',
      join(dir, 'note.ogg'),
      '--ptt',
    );
    const noteId = (JSON.parse(sentNote.stdout) as { result: { messageId: string } }).result.messageId;
    const gotPdf = await patient.waitForMessage((m) => m.id === pdfId && !m.ownCopy, 30_000);
    expect(gotPdf.media).toMatchObject({
      kind: 'document',
      fileName: 'report.pdf',
      caption: 'report',
      mimetype: 'application/pdf',
    });
    expect(sha256(gotPdf.media!.data!)).toBe(sha256(big));
    const gotNote = await patient.waitForMessage((m) => m.id === noteId && !m.ownCopy, 30_000);
    expect(gotNote.media).toMatchObject({ kind: 'audio', ptt: true });
    expect(sha256(gotNote.media!.data!)).toBe(sha256(note));

    // In: the patient's photo, saved by the CLI.
    const photo = randomBytes(700_000);
    const sent = await patient.sendMedia(PHONE, { kind: 'image', data: photo, mimetype: 'image/jpeg' });
    await inboundEvent(sent.id);
    const got = await wa('media', 'get', target, sent.id, '-o', join(dir, 'photo.jpg'));
    expect(got.stdout).toContain(sha256(photo));
    expect(sha256(await readFile(join(dir, 'photo.jpg')))).toBe(sha256(photo));
    const missing = await fails(wa('media', 'get', target, 'in:NOSUCH', '-o', join(dir, 'x')));
    expect(missing.stderr).toContain('NotFound');
    expect(await readdir(dir)).not.toContain('x');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a file over the channel's media limit is announced too-large and not downloaded", async () => {
  const small = suite.envFor('media-small');
  const paired = await suite.pair(small, 'pod-small', '5511900000032', { WA_MEDIA_MAX_BYTES: '100000' });
  paired.watch.stop();
  const patient = suite.sim.contact(PATIENT, 'Patient');
  const downloads = suite.sim.media.stats().downloads;
  const sent = await patient.sendMedia('5511900000032', {
    kind: 'video',
    data: randomBytes(150_000),
    mimetype: 'video/mp4',
  });
  const event = await eventually(`msg.in ${sent.id}`, async () => {
    const all = await storedInbound(suite.nc, small.clinic, small.channel);
    return all.find((m) => m.msgId === sent.id)?.event;
  });
  expect(event.media).toMatchObject({ state: 'too-large', kind: 'video', size: 150_000 });
  expect(event.media!.error).toMatch(/limit of 100000 bytes/);
  expect(suite.sim.media.stats().downloads).toBe(downloads);
});
