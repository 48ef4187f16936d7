/**
 * Building and checking binary nodes on the server side. Encoding itself is Baileys' own
 * (encodeBinaryNode/decodeBinaryNode); these helpers keep the simulator's answers in the shape
 * the client dispatches on.
 */
import { getBinaryNodeChild, getBinaryNodeChildren, type BinaryNode } from '@whiskeysockets/baileys';

export type { BinaryNode };
export const SERVER_JID = 's.whatsapp.net';

export function unixSeconds(at = Date.now()): string {
  return String(Math.floor(at / 1000));
}

/** An `iq type="result"` answering the query `id`. */
export function iqResult(id: string, content?: BinaryNode[]): BinaryNode {
  const node: BinaryNode = { tag: 'iq', attrs: { from: SERVER_JID, type: 'result', id } };
  if (content) node.content = content;
  return node;
}

export function iqError(id: string, code: number, text: string): BinaryNode {
  return {
    tag: 'iq',
    attrs: { from: SERVER_JID, type: 'error', id },
    content: [{ tag: 'error', attrs: { code: String(code), text } }],
  };
}

export function child(node: BinaryNode | undefined, tag: string): BinaryNode | undefined {
  return node ? getBinaryNodeChild(node, tag) : undefined;
}

export function children(node: BinaryNode | undefined, tag: string): BinaryNode[] {
  return node ? getBinaryNodeChildren(node, tag) : [];
}

export function firstChild(node: BinaryNode): BinaryNode | undefined {
  return Array.isArray(node.content) ? node.content[0] : undefined;
}

export function bytes(node: BinaryNode | undefined): Buffer | undefined {
  return node?.content instanceof Uint8Array ? Buffer.from(node.content) : undefined;
}

/** Big-endian unsigned integer of `length` bytes (WhatsApp's ids and registration ids). */
export function uintBytes(value: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  out.writeUIntBE(value, 0, length);
  return out;
}

export function readUint(buffer: Buffer | undefined): number | undefined {
  return buffer && buffer.length > 0 && buffer.length <= 6 ? buffer.readUIntBE(0, buffer.length) : undefined;
}

/**
 * Attribute values must be strings: the encoder counts a number in the attribute list but does
 * not write it, and the client then fails to decode the whole frame. Checked on every send so a
 * simulator bug shows up here, not as a mysterious client error.
 */
export function assertStringAttrs(node: BinaryNode): void {
  for (const [key, value] of Object.entries(node.attrs)) {
    // undefined is fine: the encoder leaves such attributes out entirely.
    if (value !== undefined && typeof value !== 'string')
      throw new Error(`attribute ${node.tag}.${key} is ${typeof value}, not a string`);
  }
  if (Array.isArray(node.content)) node.content.forEach(assertStringAttrs);
}
