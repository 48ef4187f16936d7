/**
 * Serialisation of creds and Signal keys, round-tripping every key type: Buffers and
 * Uint8Arrays through Baileys' BufferJSON, and app-state-sync keys back into their
 * protobuf class (Baileys reads fields of it that a plain object lacks).
 */
import { BufferJSON, proto } from '@whiskeysockets/baileys';

export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value, BufferJSON.replacer), 'utf8');
}

export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString('utf8'), BufferJSON.reviver) as T;
}

/** Key values as Baileys expects them after a read. */
export function reviveKey(type: string, value: unknown): unknown {
  if (type === 'app-state-sync-key' && value) {
    return proto.Message.AppStateSyncKeyData.fromObject(value as Record<string, unknown>);
  }
  return value;
}
