/**
 * Files over NATS, as a clinic backend moves them: `wa send --file` (small files in the send
 * itself, larger ones stored first with media-upload, piece by piece) and `wa media get` (a
 * stored attachment read piece by piece with media-get, checked against its SHA-256).
 */
import { createHash, randomUUID } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { NatsConnection } from 'nats';
import type { CommandReply } from '../../contract/index.ts';
import { CliError } from '../connection.ts';
import { requestCommand } from './request.ts';

type Target = { clinicId: string; channelId: string };
export type MediaKind = 'image' | 'video' | 'audio' | 'document' | 'sticker';
export const MEDIA_KINDS: readonly MediaKind[] = ['image', 'video', 'audio', 'document', 'sticker'];

/** Bytes per piece: the most a send's `media.data` or a media-upload piece may carry. */
export const PIECE_BYTES = 512 * 1024;

const BY_EXTENSION: Record<string, { kind: MediaKind; mimetype: string }> = {
  '.jpg': { kind: 'image', mimetype: 'image/jpeg' },
  '.jpeg': { kind: 'image', mimetype: 'image/jpeg' },
  '.png': { kind: 'image', mimetype: 'image/png' },
  '.mp4': { kind: 'video', mimetype: 'video/mp4' },
  '.ogg': { kind: 'audio', mimetype: 'audio/ogg; codecs=opus' },
  '.opus': { kind: 'audio', mimetype: 'audio/ogg; codecs=opus' },
  '.mp3': { kind: 'audio', mimetype: 'audio/mpeg' },
  '.m4a': { kind: 'audio', mimetype: 'audio/mp4' },
  '.webp': { kind: 'sticker', mimetype: 'image/webp' },
  '.pdf': { kind: 'document', mimetype: 'application/pdf' },
};

/** The kind and MIME type a file is sent as, from its extension unless given. */
export function guessMedia(path: string, kind?: string): { kind: MediaKind; mimetype: string } {
  if (kind !== undefined && !MEDIA_KINDS.includes(kind as MediaKind))
    throw new CliError(`--kind must be one of ${MEDIA_KINDS.join(', ')}`);
  const known = BY_EXTENSION[extname(path).toLowerCase()];
  if (!kind) return known ?? { kind: 'document', mimetype: 'application/octet-stream' };
  return { kind: kind as MediaKind, mimetype: known?.mimetype ?? 'application/octet-stream' };
}

function result(reply: CommandReply, what: string): Record<string, unknown> {
  if (!reply.ok) throw new CliError(`${what}: ${reply.error.code}: ${reply.error.message}`);
  return reply.result as Record<string, unknown>;
}

export interface SendFileOptions {
  to: string;
  path: string;
  idempotencyKey: string;
  kind?: string | undefined;
  caption?: string | undefined;
  ptt?: boolean | undefined;
}

/** Sends a file: in the command when it fits one piece, else uploaded first and sent by its ref. */
export async function sendFile(
  nc: NatsConnection,
  target: Target,
  options: SendFileOptions,
  timeoutMs: number,
): Promise<CommandReply> {
  const { kind, mimetype } = guessMedia(options.path, options.kind);
  if (options.ptt && kind !== 'audio') throw new CliError('--ptt is only for audio files');
  const file = await open(options.path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${options.path}: ${err.code ?? err.message}`);
  });
  try {
    const { size } = await file.stat();
    const media: Record<string, unknown> = { kind, mimetype };
    if (kind === 'document') media.fileName = basename(options.path);
    if (options.caption) media.caption = options.caption;
    if (options.ptt) media.ptt = true;
    if (size <= PIECE_BYTES) {
      const { buffer } = await file.read(Buffer.alloc(size), 0, size, 0);
      media.data = buffer.toString('base64');
    } else {
      // One upload per send: the idempotency key names it, so a retried send reuses the upload.
      const uploadId = createHash('sha256').update(options.idempotencyKey).digest('hex').slice(0, 32);
      const pieces = Math.ceil(size / PIECE_BYTES);
      for (let part = 0; part < pieces; part++) {
        const length = Math.min(PIECE_BYTES, size - part * PIECE_BYTES);
        const { buffer } = await file.read(Buffer.alloc(length), 0, length, part * PIECE_BYTES);
        const last = part === pieces - 1;
        const reply = await requestCommand(
          nc,
          target,
          'media-upload',
          { uploadId, part, data: buffer.toString('base64'), ...(last ? { last: true, mimetype } : {}) },
          timeoutMs,
        );
        result(reply, `uploading piece ${part + 1} of ${pieces}`);
      }
      media.stored = `up:${uploadId}`;
    }
    return await requestCommand(
      nc,
      target,
      'send',
      { idempotencyKey: options.idempotencyKey, to: options.to, media },
      timeoutMs,
    );
  } finally {
    await file.close();
  }
}

/**
 * Reads a stored attachment into `outPath` (via a temporary file, renamed once the SHA-256
 * matched, so a cut transfer never leaves a file that looks whole). Returns its size and hash.
 */
export async function getMedia(
  nc: NatsConnection,
  target: Target,
  ref: string,
  outPath: string,
  timeoutMs: number,
): Promise<{ size: number; sha256: string; mimetype?: string }> {
  const temporary = `${outPath}.${randomUUID().slice(0, 8)}.part`;
  const out = await open(temporary, 'wx');
  const hash = createHash('sha256');
  let expected: { size: number; sha256: string; mimetype?: string } | undefined;
  try {
    for (let offset = 0; ;) {
      const r = result(await requestCommand(nc, target, 'media-get', { media: ref, offset }, timeoutMs), ref);
      const data = Buffer.from(String(r.data), 'base64');
      expected ??= {
        size: Number(r.size),
        sha256: String(r.sha256),
        ...(r.mimetype ? { mimetype: String(r.mimetype) } : {}),
      };
      await out.write(data, 0, data.length, offset);
      hash.update(data);
      offset += data.length;
      if (r.eof === true) break;
      if (data.length === 0) throw new CliError(`${ref}: the worker sent no bytes at offset ${offset}`);
    }
    await out.close();
    const sha256 = hash.digest('hex');
    if (!expected || sha256 !== expected.sha256)
      throw new CliError(`${ref}: the bytes received do not match the file's SHA-256; nothing written`);
    await rename(temporary, outPath);
    return expected;
  } catch (err) {
    await out.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw err;
  }
}
