/**
 * Splits a byte stream into lines (newline-delimited JSON, as a Kubernetes watch sends it).
 * A chunk may end in the middle of a line, or in the middle of a multi-byte character:
 * the rest is kept for the next chunk (StringDecoder holds an incomplete character back).
 */
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  /** The complete lines this chunk finishes (without their \n or \r\n; empty lines dropped). */
  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l.trim() !== '');
  }

  /** What is left at the end of the stream (a last line without a newline), if anything. */
  end(): string | undefined {
    const rest = (this.partial + this.decoder.end()).trim();
    this.partial = '';
    return rest === '' ? undefined : rest;
  }
}
