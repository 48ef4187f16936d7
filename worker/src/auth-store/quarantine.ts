/**
 * Quarantine and erasure of a channel's state: what the worker does when WhatsApp refuses the
 * creds (the session's close policy decides which). Both act on the live state only
 * (`isLiveStateName`): the lease stays, as the worker still holds the channel and starts over
 * on it with fresh creds, and earlier quarantined copies stay, for a person to look at. They go
 * with the channel's prefix when the operator erases it.
 */
import {
  QUARANTINE_REASON_OBJECT,
  quarantinePrefix,
  type ChannelStateLocation,
} from '../../../contract/state-layout.ts';
import { listLiveState } from './live-state.ts';
import type { ObjectStore } from './object-store.ts';

export interface ChannelObjects {
  store: ObjectStore;
  location: ChannelStateLocation;
  /** The channel's prefix, `<prefix>/<clinic>/<channel>/`. */
  base: string;
}

/**
 * Copies every live state object byte for byte to
 * `<prefix>/<clinic>/<channel>/quarantine/<time>/`, with a REASON note; returns that prefix.
 * The copies stay encrypted, and their authenticated data names their original key, so they
 * are read by putting them back where they were (docs/state-store.md).
 */
export async function copyToQuarantine(
  { store, location, base }: ChannelObjects,
  reason: string,
  at: Date,
): Promise<string> {
  const target = quarantinePrefix(location, at);
  for (const o of await listLiveState(store, base)) {
    const stored = await store.get(o.key);
    if (stored) await store.put(`${target}${o.key.slice(base.length)}`, stored.body);
  }
  await store.put(`${target}${QUARANTINE_REASON_OBJECT}`, Buffer.from(`${reason}\n`));
  return target;
}

/** Deletes every live state object of the channel (not the lease, not a quarantined copy). */
export async function removeStateObjects({
  store,
  base,
}: Pick<ChannelObjects, 'store' | 'base'>): Promise<void> {
  for (const o of await listLiveState(store, base)) await store.delete(o.key);
}
