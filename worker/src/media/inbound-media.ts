/**
 * An inbound message's attachment, from WhatsApp's media host to the clinic's bucket: found in
 * the message, downloaded and checked (verified-download.ts), stored sealed (media-store.ts), and
 * described for `msg.in` (`media`: state, ref, kind, type, size, hash, name, caption, duration,
 * dimensions). A failed download is described as failed, with why, and leaves a sealed pending
 * record so `media-fetch` can try again, asking the sender's phone to upload the file again when
 * the host no longer has it. Nothing here is ever thrown at the message: the message is published
 * whatever became of its attachment.
 */
import { normalizeMessageContent, type MediaType, type proto, type WAMessage } from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import type { InboundMessageEvent } from '../../../contract/index.ts';
import { MediaTooLargeError, type MediaAbout, type MediaKind, type MediaStore } from './media-store.ts';
import { MediaDownloadError, verifiedDownload, type DownloadableMedia } from './verified-download.ts';

export type MediaRef = NonNullable<InboundMessageEvent['media']>;

type MediaContent = proto.Message.IImageMessage &
  proto.Message.IVideoMessage &
  proto.Message.IAudioMessage &
  proto.Message.IDocumentMessage &
  proto.Message.IStickerMessage;

const FIELDS: [
  MediaKind,
  'imageMessage' | 'videoMessage' | 'audioMessage' | 'documentMessage' | 'stickerMessage',
][] = [
  ['image', 'imageMessage'],
  ['video', 'videoMessage'],
  ['audio', 'audioMessage'],
  ['document', 'documentMessage'],
  ['sticker', 'stickerMessage'],
];

export interface MediaPart {
  kind: MediaKind;
  content: MediaContent;
}

/** The attachment of a message, if it has one with something to download. */
export function mediaPartOf(message: proto.IMessage | null | undefined): MediaPart | undefined {
  const content = normalizeMessageContent(message);
  if (!content) return undefined;
  for (const [kind, field] of FIELDS) {
    const part = content[field] as MediaContent | null | undefined;
    if (part && (part.directPath || part.url) && part.mediaKey?.length) return { kind, content: part };
  }
  // A document with a caption comes wrapped once more.
  const wrapped = content.documentWithCaptionMessage?.message?.documentMessage as MediaContent | undefined;
  if (wrapped && (wrapped.directPath || wrapped.url) && wrapped.mediaKey?.length)
    return { kind: 'document', content: wrapped };
  return undefined;
}

const hex = (b: Uint8Array | null | undefined) => (b?.length ? Buffer.from(b).toString('hex') : undefined);
const num = (n: number | Long | null | undefined) =>
  n === null || n === undefined ? undefined : Number(n.toString());
type Long = { toString(): string };

/** What the message says about its attachment (before anything is downloaded). */
export function aboutOf(part: MediaPart): MediaAbout & { size?: number; sha256?: string } {
  const c = part.content;
  const about: MediaAbout & { size?: number; sha256?: string } = { kind: part.kind };
  if (c.mimetype) about.mimetype = c.mimetype;
  if (c.fileName) about.fileName = c.fileName;
  if (c.caption) about.caption = c.caption;
  if (part.kind === 'audio') about.ptt = c.ptt === true;
  const seconds = num(c.seconds);
  if (seconds !== undefined) about.seconds = seconds;
  if (c.width) about.width = c.width;
  if (c.height) about.height = c.height;
  const size = num(c.fileLength);
  if (size !== undefined) about.size = size;
  const sha256 = hex(c.fileSha256);
  if (sha256) about.sha256 = sha256;
  return about;
}

/** Baileys' media type for the key expansion (a voice note is 'audio' there too). */
function mediaType(kind: MediaKind): MediaType {
  return kind;
}

/** The sealed record a retry needs: the message's key and its attachment's fields. */
interface PendingMedia {
  v: 1;
  key: WAMessage['key'];
  kind: MediaKind;
  /** The media message's fields, protobuf JSON (bytes base64). */
  content: Record<string, unknown>;
}

export interface InboundMediaDeps {
  store: MediaStore;
  /** The channel's media size limit in bytes (WA_MEDIA_MAX_BYTES). */
  maxBytes: number;
  /** A download taking longer than this fails (and can be fetched again). */
  downloadTimeoutMs: number;
  /** Asks the sender's phone to upload an expired attachment again; resolves with the updated message. */
  reupload: (message: WAMessage) => Promise<WAMessage>;
  logger: Logger;
  /** Counts outcomes (stored, failed, too-large, retried). */
  count?: (outcome: string) => void;
}

export class InboundMedia {
  readonly #deps: InboundMediaDeps;

  constructor(deps: InboundMediaDeps) {
    this.#deps = deps;
  }

  /**
   * The media reference for `msg.in`, after storing the attachment if it can; undefined for a
   * message without one. Never throws: a failure is a `failed` reference with a reason.
   */
  async capture(message: WAMessage, signal: AbortSignal): Promise<MediaRef | undefined> {
    const part = mediaPartOf(message.message);
    const id = message.key.id;
    if (!part || !id) return undefined;
    const ref = `in:${id}`;
    const about = aboutOf(part);
    const { store, maxBytes, logger } = this.#deps;
    try {
      // WhatsApp delivers a message again when its receipt was never sent (a crash after the
      // download): the file is already stored.
      const stored = await store.manifest(ref);
      if (stored) return storedRef(ref, stored);
    } catch (err) {
      logger.warn({ err, ref }, 'could not look for stored media; downloading it again');
    }
    if (about.size !== undefined && about.size > maxBytes) {
      this.#deps.count?.('too-large');
      return {
        ...about,
        state: 'too-large',
        ref,
        error: `the file (${about.size} bytes) is over this channel's media limit of ${maxBytes} bytes; it was not downloaded`,
      };
    }
    try {
      const manifest = await this.#download(ref, part, signal);
      this.#deps.count?.('stored');
      return storedRef(ref, manifest);
    } catch (err) {
      if (err instanceof MediaTooLargeError) {
        this.#deps.count?.('too-large');
        return { ...about, state: 'too-large', ref, error: err.message };
      }
      this.#deps.count?.('failed');
      logger.warn(
        { err, ref },
        'media download failed; the message is published with the media marked failed',
      );
      const pending: PendingMedia = { v: 1, key: message.key, kind: part.kind, content: contentJson(part) };
      await store
        .savePending(ref, pending)
        .catch((e: unknown) => logger.error({ err: e, ref }, 'could not keep the media for a retry'));
      return { ...about, state: 'failed', ref, error: reasonOf(err) };
    }
  }

  /**
   * `media-fetch`: downloads a failed attachment again; if the host no longer has it, asks the
   * sender's phone to upload it again first. Resolves with the stored reference (and the chat,
   * when it was fetched now); throws NoPendingMediaError or the download's error.
   */
  async fetchAgain(messageId: string): Promise<{ media: MediaRef; chat?: string; fetched: boolean }> {
    const { store } = this.#deps;
    const ref = `in:${messageId}`;
    const stored = await store.manifest(ref);
    if (stored) return { media: storedRef(ref, stored), fetched: false };
    const pending = await store.pending<PendingMedia>(ref);
    if (!pending) throw new NoPendingMediaError(messageId);
    let part: MediaPart = { kind: pending.kind, content: contentFromJson(pending.kind, pending.content) };
    const timeout = AbortSignal.timeout(this.#deps.downloadTimeoutMs);
    let manifest;
    try {
      manifest = await this.#download(ref, part, timeout);
    } catch (err) {
      if (!(err instanceof MediaDownloadError && err.gone)) throw err;
      // Expired on WhatsApp's host: the sender's phone uploads it again under a new path.
      const updated = await this.#deps.reupload({
        key: pending.key,
        message: { [`${pending.kind}Message`]: part.content },
      } as WAMessage);
      part = mediaPartOf(updated.message) ?? part;
      await store.savePending(ref, { ...pending, content: contentJson(part) });
      manifest = await this.#download(ref, part, AbortSignal.timeout(this.#deps.downloadTimeoutMs));
    }
    await store.dropPending(ref).catch(() => undefined);
    this.#deps.count?.('retried');
    return { media: storedRef(ref, manifest), chat: pending.key.remoteJid ?? '', fetched: true };
  }

  #download(ref: string, part: MediaPart, signal: AbortSignal) {
    const limit = AbortSignal.any([signal, AbortSignal.timeout(this.#deps.downloadTimeoutMs)]);
    const { size: _size, sha256: _sha, ...about } = aboutOf(part);
    return this.#deps.store.write(
      ref,
      verifiedDownload(part.content as DownloadableMedia, mediaType(part.kind), limit),
      about,
      this.#deps.maxBytes,
    );
  }
}

export class NoPendingMediaError extends Error {
  readonly code = 'NotFound';
  constructor(messageId: string) {
    super(`no failed media download of message ${messageId} to fetch again (never failed, or swept)`);
    this.name = 'NoPendingMediaError';
  }
}

function storedRef(ref: string, m: import('./media-store.ts').MediaManifest): MediaRef {
  const out: MediaRef = { state: 'stored', ref, kind: m.kind, size: m.size, sha256: m.sha256 };
  for (const k of ['mimetype', 'fileName', 'caption', 'ptt', 'seconds', 'width', 'height'] as const) {
    if (m[k] !== undefined) (out as Record<string, unknown>)[k] = m[k];
  }
  return out;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function contentJson(part: MediaPart): Record<string, unknown> {
  const c = part.content;
  const b64 = (b: Uint8Array | null | undefined) =>
    b?.length ? Buffer.from(b).toString('base64') : undefined;
  return {
    url: c.url ?? undefined,
    directPath: c.directPath ?? undefined,
    mediaKey: b64(c.mediaKey),
    fileSha256: b64(c.fileSha256),
    fileEncSha256: b64(c.fileEncSha256),
    fileLength: num(c.fileLength),
    mimetype: c.mimetype ?? undefined,
    fileName: c.fileName ?? undefined,
    caption: c.caption ?? undefined,
    ptt: c.ptt ?? undefined,
    seconds: c.seconds ?? undefined,
    width: c.width ?? undefined,
    height: c.height ?? undefined,
  };
}

function contentFromJson(_kind: MediaKind, json: Record<string, unknown>): MediaContent {
  const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : undefined);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (v === undefined || v === null) continue;
    out[k] = ['mediaKey', 'fileSha256', 'fileEncSha256'].includes(k) ? bytes(v) : v;
  }
  return out as MediaContent;
}
