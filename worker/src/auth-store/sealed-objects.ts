/**
 * A channel's encrypted objects: each sealed under the channel's data key with its place
 * (clinic, channel, full object key) bound into the authenticated data (envelope.ts). The
 * journal, the snapshots and the sent-message store all read and write through this.
 */
import { open, seal } from './envelope.ts';
import type { ObjectStore } from './object-store.ts';
import { StateIntegrityError } from './state-errors.ts';

export interface SealedObjectsOptions {
  store: ObjectStore;
  dataKey: Uint8Array;
  clinic: string;
  channel: string;
  /** The channel's prefix, `<prefix>/<clinic>/<channel>/`; names are relative to it. */
  base: string;
}

export class SealedObjects {
  readonly store: ObjectStore;
  readonly base: string;
  private readonly dataKey: Uint8Array;
  private readonly clinic: string;
  private readonly channel: string;

  constructor(options: SealedObjectsOptions) {
    this.store = options.store;
    this.base = options.base;
    this.dataKey = options.dataKey;
    this.clinic = options.clinic;
    this.channel = options.channel;
  }

  /** The full object key of a name relative to the channel's prefix. */
  key(name: string): string {
    return `${this.base}${name}`;
  }

  seal(name: string, plaintext: Uint8Array): Uint8Array {
    return seal(this.dataKey, this.place(name), plaintext);
  }

  /** Throws UnreadableObjectError (naming the object) when it is not this channel's object `name`. */
  open(name: string, sealed: Uint8Array): Uint8Array {
    return open(this.dataKey, this.place(name), sealed);
  }

  /** Reads an object that was just listed; its absence means someone else is deleting the state. */
  async read(name: string): Promise<Uint8Array> {
    const stored = await this.store.get(this.key(name));
    if (!stored)
      throw new StateIntegrityError(
        `${this.store.location}/${this.key(name)} vanished while the state was read`,
      );
    return this.open(name, stored.body);
  }

  private place(name: string) {
    return { clinic: this.clinic, channel: this.channel, key: this.key(name) };
  }
}
