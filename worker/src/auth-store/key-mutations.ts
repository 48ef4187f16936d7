/**
 * The Signal keys as the journal records them: a map of type → id → value, and the
 * mutations of one Baileys transaction (a null value deletes). Pure functions, shared by
 * the key store, the journal replay and compaction.
 */
import type { AuthenticationCreds } from '@whiskeysockets/baileys';
import { encodeJson } from './codec.ts';

export type KeyMap = Record<string, Record<string, unknown>>;
export type KeyMutations = Record<string, Record<string, unknown | null>>;

/** The mutations that would change `keys` (a deletion of an absent key changes nothing), or null. */
export function changedMutations(keys: KeyMap, mutations: KeyMutations): KeyMutations | null {
  let changed: KeyMutations | null = null;
  for (const [type, entries] of Object.entries(mutations)) {
    for (const [id, value] of Object.entries(entries)) {
      const current = keys[type]?.[id];
      const same =
        value === null || value === undefined
          ? current === undefined
          : current !== undefined && Buffer.compare(encodeJson(current), encodeJson(value)) === 0;
      if (!same) ((changed ??= {})[type] ??= {})[id] = value;
    }
  }
  return changed;
}

export function applyMutations(keys: KeyMap, mutations: KeyMutations): void {
  for (const [type, entries] of Object.entries(mutations)) {
    const bucket = (keys[type] ??= {});
    for (const [id, value] of Object.entries(entries)) {
      if (value === null || value === undefined) delete bucket[id];
      else bucket[id] = value;
    }
  }
}

/**
 * Baileys stores new pre-keys (keys.set) before it saves the creds that count them.
 * If the creds save was lost, the counter is behind the stored keys: raise it so no
 * pre-key id is ever generated twice, and treat the uncounted ones as uploaded.
 */
export function raisePreKeyCounters(creds: AuthenticationCreds, keys: KeyMap): void {
  const ids = Object.keys(keys['pre-key'] ?? {})
    .map(Number)
    .filter(Number.isSafeInteger);
  if (ids.length === 0) return;
  const next = Math.max(...ids) + 1;
  if (creds.nextPreKeyId < next) {
    creds.nextPreKeyId = next;
    creds.firstUnuploadedPreKeyId = Math.max(creds.firstUnuploadedPreKeyId, next);
  }
}
