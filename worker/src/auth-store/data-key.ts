/**
 * The channel's data key record, `<prefix>/<clinic>/<channel>/datakey`: the AES-256 key as
 * KMS wrapped it, `{v, keyId, context, wrapped}`. Useless without KMS and the same encryption
 * context `{clinic, channel}`, so it is the one state object stored unsealed.
 *
 * A channel gets a new data key only when it provably has no state at all: no data key and
 * no other object. A missing data key beside existing objects is refused, never replaced.
 */
import { DATA_KEY_OBJECT } from '../../../contract/state-layout.ts';
import { UnreadableObjectError } from './envelope.ts';
import type { DataKeyProvider, EncryptionContext } from './key-provider.ts';
import { listLiveState } from './live-state.ts';
import { PreconditionFailedError, type ObjectStore } from './object-store.ts';
import { FencedError, StateIntegrityError } from './state-errors.ts';

export interface DataKeyRecord {
  v: 1;
  keyId: string;
  context: EncryptionContext;
  /** base64 of the KMS ciphertext blob. */
  wrapped: string;
}

export interface DataKeyPlace {
  store: ObjectStore;
  keyProvider: DataKeyProvider;
  /** The channel's prefix, `<prefix>/<clinic>/<channel>/`. */
  base: string;
  context: EncryptionContext;
}

/** Parses a stored `datakey` object; UnreadableObjectError (naming `key`) when it is not one. */
export function parseDataKeyRecord(key: string, body: Uint8Array): DataKeyRecord {
  let parsed: Partial<DataKeyRecord>;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8')) as Partial<DataKeyRecord>;
  } catch {
    throw new UnreadableObjectError(key, 'not a data key record');
  }
  if (typeof parsed.wrapped !== 'string' || parsed.wrapped === '')
    throw new UnreadableObjectError(key, 'not a data key record (no wrapped key)');
  return parsed as DataKeyRecord;
}

export function encodeDataKeyRecord(record: DataKeyRecord): Uint8Array {
  return Buffer.from(JSON.stringify(record));
}

/** The plaintext data key: unwrapped by KMS, or generated (and stored) for a channel with no state. */
export async function loadOrCreateDataKey({
  store,
  keyProvider,
  base,
  context,
}: DataKeyPlace): Promise<Uint8Array> {
  const key = `${base}${DATA_KEY_OBJECT}`;
  const stored = await store.get(key);
  if (stored) {
    const parsed = parseDataKeyRecord(key, stored.body);
    return keyProvider.unwrap(Buffer.from(parsed.wrapped, 'base64'), context);
  }
  // No data key: only a channel with no live state at all may start fresh (a quarantined copy
  // is not state: the channel started over after setting it aside).
  const existing = await listLiveState(store, base);
  if (existing.length > 0) {
    throw new StateIntegrityError(
      `${store.location}/${key} is missing but ${existing.length} state object(s) exist under ` +
        `${base} (e.g. ${existing[0]!.key}); refusing to create new credentials over them`,
    );
  }
  const created = await keyProvider.generate(context);
  const record: DataKeyRecord = {
    v: 1,
    keyId: keyProvider.keyId,
    context,
    wrapped: Buffer.from(created.wrapped).toString('base64'),
  };
  try {
    await store.put(key, encodeDataKeyRecord(record), { ifAbsent: true });
  } catch (err) {
    // Another worker created the channel's key first: it holds the channel now.
    if (err instanceof PreconditionFailedError) throw new FencedError(key);
    throw err;
  }
  return created.plaintext;
}
