/**
 * Downloads and decrypts one WhatsApp attachment as a stream, checking what Baileys does not.
 *
 * Baileys' own `downloadContentFromMessage` hands back only the decrypted stream: it never checks
 * the MAC, `fileEncSha256` or `fileSha256`, and a media host that ignores `Range` makes it return
 * wrong bytes without an error. So the worker takes from Baileys what defines the protocol (the
 * HKDF key expansion `getMediaKeys`, the URL rule `getUrlFromDirectPath`, the Origin header) and
 * reads the ciphertext itself: every byte goes through SHA-256 and the HMAC on its way to the
 * AES-CBC decipher, and the last block of plaintext is released only after the 10-byte MAC, the
 * ciphertext hash and the plaintext hash all matched. A consumer that stores the stream therefore
 * gets an error, never a wrong tail, and what it stored before is incomplete by construction.
 * The whole file is never in memory.
 */
import { createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  DEFAULT_ORIGIN,
  getMediaKeys,
  getUrlFromDirectPath,
  type MediaType,
  type proto,
} from '@whiskeysockets/baileys';

const MAC_BYTES = 10;
/** Plaintext bytes held back until the checks passed: at least one AES block. */
const HELD_BYTES = 16;

/** The fields of an image/video/audio/document/sticker message a download needs. */
export type DownloadableMedia = Pick<
  proto.Message.IDocumentMessage,
  'url' | 'directPath' | 'mediaKey' | 'fileSha256' | 'fileEncSha256'
>;

/** The download failed: `gone` when the host no longer has the file (ask the phone to upload it again). */
export class MediaDownloadError extends Error {
  readonly code = 'MediaDownloadFailed';
  readonly gone: boolean;
  constructor(message: string, gone = false, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'MediaDownloadError';
    this.gone = gone;
  }
}

/** The bytes did not match WhatsApp's MAC or hashes: corrupt, tampered, or a host ignoring Range. */
export class MediaIntegrityError extends Error {
  readonly code = 'MediaIntegrity';
  constructor(what: string) {
    super(`downloaded media failed its check: ${what}`);
    this.name = 'MediaIntegrityError';
  }
}

function hostOf(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** The URL Baileys would download from: the direct path on the message URL's host. */
export function downloadUrl(media: DownloadableMedia): string {
  if (media.directPath) return getUrlFromDirectPath(media.directPath, hostOf(media.url));
  if (media.url) return media.url;
  throw new MediaDownloadError('the message has neither a direct path nor a URL');
}

/**
 * The decrypted, checked bytes of an attachment. Throws MediaDownloadError (HTTP, network,
 * abort) or MediaIntegrityError (checks) while iterating; ends normally only when all checks passed.
 */
export async function* verifiedDownload(
  media: DownloadableMedia,
  type: MediaType,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  if (!media.mediaKey?.length) throw new MediaDownloadError('the message has no media key');
  const url = downloadUrl(media);
  const { iv, cipherKey, macKey } = await getMediaKeys(media.mediaKey, type);
  if (!macKey) throw new MediaDownloadError(`no MAC key for media type ${type}`);
  let response: Response;
  try {
    response = await fetch(url, { headers: { Origin: DEFAULT_ORIGIN }, signal });
  } catch (err) {
    throw new MediaDownloadError(`download failed: ${describe(err)}`, false, { cause: err });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    const gone = response.status === 404 || response.status === 410;
    throw new MediaDownloadError(
      `the media host answered ${response.status}${gone ? ' (no longer there: the sender can upload it again)' : ''}`,
      gone,
    );
  }
  const encHash = createHash('sha256');
  const mac = createHmac('sha256', macKey).update(iv);
  const plainHash = createHash('sha256');
  const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv);
  // The last MAC_BYTES seen so far: they are the MAC if the stream ends now.
  let tail = Buffer.alloc(0);
  // Plaintext not yet released: the end of the file, until every check passed.
  let held = Buffer.alloc(0);
  try {
    for await (const chunk of response.body) {
      const data = tail.length ? Buffer.concat([tail, chunk]) : Buffer.from(chunk);
      if (data.length <= MAC_BYTES) {
        tail = data;
        continue;
      }
      const body = data.subarray(0, data.length - MAC_BYTES);
      tail = Buffer.from(data.subarray(data.length - MAC_BYTES));
      encHash.update(body);
      mac.update(body);
      const plain = decipher.update(body);
      plainHash.update(plain);
      // The last block of plaintext waits for the checks (the decipher alone may already have
      // released everything, when the padding is a whole block).
      const ready = held.length ? Buffer.concat([held, plain]) : plain;
      if (ready.length > HELD_BYTES) {
        held = Buffer.from(ready.subarray(ready.length - HELD_BYTES));
        yield ready.subarray(0, ready.length - HELD_BYTES);
      } else {
        held = ready;
      }
    }
  } catch (err) {
    if (err instanceof MediaIntegrityError) throw err;
    throw new MediaDownloadError(`download failed: ${describe(err)}`, false, { cause: err });
  }
  if (tail.length !== MAC_BYTES) throw new MediaIntegrityError('shorter than a MAC');
  encHash.update(tail);
  if (!timingSafeEqual(mac.digest().subarray(0, MAC_BYTES), tail))
    throw new MediaIntegrityError('MAC mismatch');
  if (media.fileEncSha256?.length && !encHash.digest().equals(Buffer.from(media.fileEncSha256)))
    throw new MediaIntegrityError('fileEncSha256 mismatch');
  let last: Buffer;
  try {
    last = decipher.final();
  } catch {
    throw new MediaIntegrityError('bad padding');
  }
  plainHash.update(last);
  if (media.fileSha256?.length && !plainHash.digest().equals(Buffer.from(media.fileSha256)))
    throw new MediaIntegrityError('fileSha256 mismatch');
  const end = Buffer.concat([held, last]);
  if (end.length) yield end;
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { message?: string; code?: string } }).cause;
  const base = err instanceof Error ? err.message : String(err);
  return cause?.message ? `${base} (${cause.code ?? cause.message})` : base;
}
