/**
 * What the media verbs do, behind the command server: `media-get` (a piece of a stored file,
 * decrypted, for the clinic's backend), `media-fetch` (an inbound attachment whose download
 * failed, fetched again), `media-upload` (a backend's file stored piece by piece, to send later),
 * and the attachment of a `send` (bytes from the command or a stored file).
 *
 * Why pieces by request/reply, not a stream of replies or S3 URLs: docs/contract.md, "Media".
 */
import { Readable } from 'node:stream';
import type { InboundMessageEvent } from '../../../contract/index.ts';
import type { SendMedia } from '../commands/parse.ts';
import type { OutgoingMedia } from '../session/session-port.ts';
import type { InboundMedia, MediaRef } from './inbound-media.ts';
import { MediaNotFoundError, type MediaKind, type MediaStore } from './media-store.ts';

/** MIME types used when neither the command nor the stored file names one. */
const DEFAULT_MIME: Record<MediaKind, string> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/ogg; codecs=opus',
  document: 'application/octet-stream',
  sticker: 'image/webp',
};

export interface MediaCommandDeps {
  store: MediaStore;
  inbound: InboundMedia;
  /** The channel's media size limit, for uploads too (WA_MEDIA_MAX_BYTES). */
  maxBytes: number;
  /** A failed attachment was fetched again: published as a `msg.update` of kind `media`. */
  published: (messageId: string, chat: string, media: NonNullable<InboundMessageEvent['media']>) => void;
}

/** An attachment of a send, as the command parser gives it. */
export type SendMediaRequest = SendMedia;

export class MediaCommands {
  readonly #deps: MediaCommandDeps;

  constructor(deps: MediaCommandDeps) {
    this.#deps = deps;
  }

  async get(ref: string, offset: number, length: number): Promise<Record<string, unknown>> {
    const { manifest, data } = await this.#deps.store.read(ref, offset, length);
    if (offset > manifest.size)
      throw new MediaRangeError(`/offset: ${offset} is past the end of the file (${manifest.size} bytes)`);
    return {
      media: ref,
      offset,
      size: manifest.size,
      sha256: manifest.sha256,
      kind: manifest.kind,
      ...(manifest.mimetype ? { mimetype: manifest.mimetype } : {}),
      ...(manifest.fileName ? { fileName: manifest.fileName } : {}),
      data: data.toString('base64'),
      eof: offset + data.length >= manifest.size,
    };
  }

  async fetchAgain(messageId: string): Promise<MediaRef> {
    const { media, chat, fetched } = await this.#deps.inbound.fetchAgain(messageId);
    if (fetched && chat) this.#deps.published(messageId, chat, media);
    return media;
  }

  async upload(
    uploadId: string,
    part: number,
    data: Buffer,
    last: boolean,
    mimetype: string | undefined,
  ): Promise<Record<string, unknown>> {
    const ref = `up:${uploadId}`;
    // Pieces are all the size of piece 0 but the last: a piece this far in means at least this much.
    if (part * data.length > this.#deps.maxBytes || (part === 0 && data.length > this.#deps.maxBytes))
      throw new MediaRangeError(
        `/part: the file would pass this channel's media limit of ${this.#deps.maxBytes} bytes`,
      );
    await this.#deps.store.putUploadPart(ref, part, data);
    if (!last) return { media: ref, part, stored: data.length };
    const manifest = await this.#deps.store.completeUpload(ref, part, {
      kind: 'document',
      ...(mimetype ? { mimetype } : {}),
    });
    return { media: ref, part, size: manifest.size, sha256: manifest.sha256, parts: manifest.parts };
  }

  /** The attachment of a send, with its bytes ready to stream from the store when stored. */
  async outgoing(request: SendMediaRequest): Promise<OutgoingMedia> {
    let source: OutgoingMedia['source'];
    let mimetype = request.mimetype;
    if (request.data) {
      source = request.data;
    } else {
      const ref = request.stored!;
      const manifest = await this.#deps.store.manifest(ref);
      if (!manifest) throw new MediaNotFoundError(ref);
      mimetype ??= manifest.mimetype;
      source = { stream: Readable.from(this.#deps.store.stream(ref)) };
    }
    return {
      kind: request.kind,
      source,
      mimetype: mimetype ?? DEFAULT_MIME[request.kind],
      fileName: request.fileName,
      caption: request.caption,
      ptt: request.ptt,
      seconds: request.seconds,
    };
  }
}

/** A media command that asks for what cannot be: past the end of a file, over the size limit. */
export class MediaRangeError extends Error {
  readonly code = 'InvalidCommand';
  constructor(message: string) {
    super(message);
    this.name = 'MediaRangeError';
  }
}
