/**
 * The media part of a WhatsApp message as a phone writes and reads it: which proto field each
 * kind uses, what it carries (keys, hashes, where the upload is), and the phone's own download.
 */
import type { proto } from '@whiskeysockets/baileys';
import { decryptMedia, type EncryptedMedia, type MediaKeyType } from './media-crypto.ts';

export type MediaKind = 'image' | 'video' | 'audio' | 'document' | 'sticker';

export interface MediaToSend {
  kind: MediaKind;
  data: Uint8Array;
  mimetype: string;
  fileName?: string;
  caption?: string;
  /** An audio message recorded as a voice note. */
  ptt?: boolean;
  /** Audio/video duration. */
  seconds?: number;
  width?: number;
  height?: number;
}

/** What a simulated phone got out of a media message a companion sent it. */
export interface ReceivedMedia {
  kind: MediaKind;
  mimetype?: string;
  fileName?: string;
  caption?: string;
  ptt?: boolean;
  /** The decrypted bytes (MAC and both hashes checked), or why they could not be had. */
  data?: Buffer;
  error?: string;
}

type MediaContent = proto.Message.IImageMessage &
  proto.Message.IVideoMessage &
  proto.Message.IAudioMessage &
  proto.Message.IDocumentMessage &
  proto.Message.IStickerMessage;

const FIELD: Record<
  MediaKind,
  'imageMessage' | 'videoMessage' | 'audioMessage' | 'documentMessage' | 'stickerMessage'
> = {
  image: 'imageMessage',
  video: 'videoMessage',
  audio: 'audioMessage',
  document: 'documentMessage',
  sticker: 'stickerMessage',
};

export function keyTypeOf(kind: MediaKind, ptt?: boolean | null): MediaKeyType {
  return kind === 'audio' && ptt ? 'ptt' : kind;
}

/** The message a phone sends after uploading `upload` to `url` / `directPath`. */
export function mediaMessage(
  media: MediaToSend,
  upload: EncryptedMedia,
  where: { url: string; directPath: string },
): proto.IMessage {
  const content: MediaContent = {
    url: where.url,
    directPath: where.directPath,
    mimetype: media.mimetype,
    mediaKey: upload.mediaKey,
    fileSha256: upload.fileSha256,
    fileEncSha256: upload.fileEncSha256,
    fileLength: upload.fileLength,
    mediaKeyTimestamp: Math.floor(Date.now() / 1000),
  };
  if (media.caption !== undefined) content.caption = media.caption;
  if (media.fileName !== undefined) content.fileName = media.fileName;
  if (media.seconds !== undefined) content.seconds = media.seconds;
  if (media.width !== undefined) content.width = media.width;
  if (media.height !== undefined) content.height = media.height;
  if (media.kind === 'audio') content.ptt = media.ptt ?? false;
  return { [FIELD[media.kind]]: content };
}

/** The media part of a message, if it has one. */
export function mediaPart(message: proto.IMessage): { kind: MediaKind; content: MediaContent } | undefined {
  for (const [kind, field] of Object.entries(FIELD) as [MediaKind, (typeof FIELD)[MediaKind]][]) {
    const content = message[field] as MediaContent | null | undefined;
    if (content) return { kind, content };
  }
  return undefined;
}

/** The phone downloads and decrypts the media of a message it received (checking MAC and hashes). */
export function openMedia(
  message: proto.IMessage,
  fetchEncrypted: (directPathOrUrl: string) => Buffer | undefined,
): ReceivedMedia | undefined {
  const part = mediaPart(message);
  if (!part) return undefined;
  const { kind, content } = part;
  const received: ReceivedMedia = { kind };
  if (content.mimetype) received.mimetype = content.mimetype;
  if (content.fileName) received.fileName = content.fileName;
  if (content.caption) received.caption = content.caption;
  if (content.ptt) received.ptt = true;
  const where = content.directPath ?? content.url;
  const encrypted = where ? fetchEncrypted(where) : undefined;
  if (!encrypted || !content.mediaKey) {
    received.error = `media not found at ${where ?? '(no url)'}`;
    return received;
  }
  try {
    received.data = decryptMedia(encrypted, content.mediaKey, keyTypeOf(kind, content.ptt), content);
  } catch (err) {
    received.error = err instanceof Error ? err.message : String(err);
  }
  return received;
}
