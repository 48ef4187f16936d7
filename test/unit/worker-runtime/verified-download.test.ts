/**
 * The worker's checked download against a loopback HTTP server serving files encrypted the way
 * a phone does (wa-sim/media/media-crypto.ts, written from the protocol): the right bytes come
 * out; a flipped byte, a wrong hash or a wrong length is an error before the last block is
 * released; 404 is "gone" (the phone can upload again), 503 is not.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { encryptMedia } from '../../../wa-sim/media/media-crypto.ts';
import {
  MediaDownloadError,
  MediaIntegrityError,
  verifiedDownload,
} from '../../../worker/src/media/verified-download.ts';

let server: Server;
let base: string;
const files = new Map<string, Buffer>();

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/busy') return void res.writeHead(503).end();
    const body = files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function serve(path: string, plaintext: Buffer, tamper?: (enc: Buffer) => Buffer) {
  const upload = encryptMedia(plaintext, 'document');
  files.set(path, tamper ? tamper(Buffer.from(upload.encrypted)) : upload.encrypted);
  return { url: `${base}${path}`, ...upload };
}

async function drain(it: AsyncIterable<Buffer>): Promise<{ data: Buffer; error?: unknown }> {
  const out: Buffer[] = [];
  try {
    for await (const c of it) out.push(c);
    return { data: Buffer.concat(out) };
  } catch (error) {
    return { data: Buffer.concat(out), error };
  }
}

const flip = (e: Buffer, at: number) => (e.writeUInt8(e.readUInt8(at) ^ 1, at), e);
const signal = () => AbortSignal.timeout(10_000);

test('a good file comes out byte for byte', async () => {
  const plain = randomBytes(300_001);
  const m = serve('/good', plain);
  const { data, error } = await drain(verifiedDownload(m, 'document', signal()));
  expect(error).toBeUndefined();
  expect(data.equals(plain)).toBe(true);
});

test.each([
  ['a flipped ciphertext byte', (e: Buffer) => flip(e, 100), /MAC mismatch/],
  ['a flipped MAC byte', (e: Buffer) => flip(e, e.length - 1), /MAC mismatch/],
  ['a truncated file', (e: Buffer) => e.subarray(0, e.length - 32), /MAC mismatch/],
])('%s fails, and the end of the file is never released', async (_what, tamper, message) => {
  const plain = randomBytes(200_000);
  const m = serve(`/t${Math.random()}`, plain, tamper);
  const { data, error } = await drain(verifiedDownload(m, 'document', signal()));
  expect(error).toBeInstanceOf(MediaIntegrityError);
  expect((error as Error).message).toMatch(message);
  expect(data.length).toBeLessThan(plain.length);
});

test('hashes that do not match what the message says are refused', async () => {
  const plain = randomBytes(50_000);
  const m = serve('/hash', plain);
  const wrongPlain = await drain(
    verifiedDownload({ ...m, fileSha256: randomBytes(32) }, 'document', signal()),
  );
  expect((wrongPlain.error as Error).message).toMatch(/fileSha256 mismatch/);
  expect(wrongPlain.data.length).toBeLessThan(plain.length);
  const wrongEnc = await drain(
    verifiedDownload({ ...m, fileEncSha256: randomBytes(32) }, 'document', signal()),
  );
  expect((wrongEnc.error as Error).message).toMatch(/fileEncSha256 mismatch/);
});

test('a file the host no longer has is "gone"; a busy host is not', async () => {
  const m = serve('/x', randomBytes(10));
  const gone = await drain(
    verifiedDownload({ ...m, url: `${base}/missing`, directPath: null }, 'document', signal()),
  );
  expect(gone.error).toBeInstanceOf(MediaDownloadError);
  expect((gone.error as MediaDownloadError).gone).toBe(true);
  const busy = await drain(
    verifiedDownload({ ...m, url: `${base}/busy`, directPath: null }, 'document', signal()),
  );
  expect((busy.error as MediaDownloadError).gone).toBe(false);
  expect((busy.error as Error).message).toMatch(/503/);
});
