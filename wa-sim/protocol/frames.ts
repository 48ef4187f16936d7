/**
 * WhatsApp Web framing over WebSocket: every frame is a 3-byte big-endian length followed by
 * the payload; frames may be split across or coalesced within WebSocket messages. The
 * client's very first bytes are an intro header: "WA" + version bytes (4 bytes), optionally
 * preceded by an "ED" routing-info block when the client was given edge routing info.
 */

const MAX_FRAME = 0xffffff;

export interface IntroHeader {
  /** The 4-byte "WA…" header; it is mixed into the Noise handshake hash. */
  waHeader: Buffer;
  /** Routing info the client echoed back (only when the server pushed edge_routing). */
  routingInfo?: Buffer;
}

export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);
  #intro: IntroHeader | undefined;
  #introRead = false;

  /** The intro header, once the client's first bytes have arrived. */
  get intro(): IntroHeader | undefined {
    return this.#intro;
  }

  /** Feeds received bytes; returns every complete frame payload. Throws on a malformed header. */
  push(data: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, data]) : data;
    if (!this.#introRead && !this.#readIntro()) return [];
    const frames: Buffer[] = [];
    while (this.#buffer.length >= 3) {
      const size = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < size + 3) break;
      frames.push(Buffer.from(this.#buffer.subarray(3, size + 3)));
      this.#buffer = this.#buffer.subarray(size + 3);
    }
    return frames;
  }

  #readIntro(): boolean {
    const b = this.#buffer;
    let offset = 0;
    let routingInfo: Buffer | undefined;
    if (b.length >= 2 && b[0] === 0x45 && b[1] === 0x44) {
      // 'E' 'D' 0x00 0x01, 3-byte length, routing info, then the WA header.
      if (b.length < 7) return false;
      const length = b.readUIntBE(4, 3);
      if (b.length < 7 + length + 4) return false;
      routingInfo = Buffer.from(b.subarray(7, 7 + length));
      offset = 7 + length;
    }
    if (b.length < offset + 4) return false;
    const waHeader = Buffer.from(b.subarray(offset, offset + 4));
    if (waHeader[0] !== 0x57 || waHeader[1] !== 0x41) {
      throw new Error(`bad intro header ${waHeader.toString('hex')}`);
    }
    this.#intro = routingInfo ? { waHeader, routingInfo } : { waHeader };
    this.#introRead = true;
    this.#buffer = b.subarray(offset + 4);
    return true;
  }
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length > MAX_FRAME) throw new Error(`frame too large: ${payload.length} bytes`);
  const frame = Buffer.alloc(3 + payload.length);
  frame.writeUIntBE(payload.length, 0, 3);
  frame.set(payload, 3);
  return frame;
}
