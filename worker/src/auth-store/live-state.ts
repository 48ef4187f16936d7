/**
 * The channel's live state objects: what a worker loads, quarantines and starts over without.
 * Its prefix also holds the lease and quarantined copies (contract/state-layout.ts); every
 * listing that decides about the state goes through here, so a worker starting after a
 * quarantine never takes the copies for state.
 */
import { isLiveStateName } from '../../../contract/state-layout.ts';
import type { ListedObject, ObjectStore } from './object-store.ts';

/** Objects under the channel's prefix `base` that are neither the lease nor a quarantined copy. */
export async function listLiveState(store: ObjectStore, base: string): Promise<ListedObject[]> {
  return (await store.list(base)).filter((o) => isLiveStateName(o.key.slice(base.length)));
}
