/**
 * Large bodies for the streamed object-store tests, made and checked a chunk at a time so that
 * the test itself never holds a whole object: a random source that can pause part-way until the
 * store shows it is already writing, and a reader that records how the body arrived.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

export interface RandomSource {
  body: Readable;
  /** SHA-256 of every byte produced so far (hex); complete once the body was read to its end. */
  sha256(): string;
}

/**
 * `size` random bytes in `chunk`-sized pieces, produced only as the reader asks for them. With
 * `pause`, production stops after `pause.after` bytes until `pause.until()` resolves: a store that
 * waited for the whole body before writing any of it never sees the rest, and the test fails.
 */
export function randomSource(
  size: number,
  options: { chunk?: number; pause?: { after: number; until: () => Promise<unknown> } } = {},
): RandomSource {
  const chunk = options.chunk ?? 64 * 1024;
  const hash = createHash('sha256');
  let produced = 0;
  async function* chunks() {
    while (produced < size) {
      if (options.pause && produced >= options.pause.after) {
        const { until } = options.pause;
        options.pause = undefined;
        await until();
      }
      const piece = randomBytes(Math.min(chunk, size - produced));
      hash.update(piece);
      produced += piece.length;
      yield piece;
    }
  }
  return { body: Readable.from(chunks(), { objectMode: false }), sha256: () => hash.copy().digest('hex') };
}

/** Reads a body to its end a chunk at a time: its SHA-256, length, and how many chunks and how large. */
export async function readInChunks(
  body: Readable,
): Promise<{ sha256: string; bytes: number; chunks: number; largestChunk: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  let largestChunk = 0;
  for await (const piece of body as AsyncIterable<Buffer>) {
    hash.update(piece);
    bytes += piece.length;
    chunks++;
    largestChunk = Math.max(largestChunk, piece.length);
  }
  return { sha256: hash.digest('hex'), bytes, chunks, largestChunk };
}
