/**
 * Sent messages kept for Baileys' getMessage (a contact that failed to decrypt asks
 * for a resend). Encrypted like the rest of the state, bounded by count and age.
 * An unknown id gives undefined, never a placeholder: a placeholder would be resent
 * to the contact as if it were the message.
 */
import { proto } from '@whiskeysockets/baileys';
import { SENT_MESSAGES_DIR, sentMessageName } from '../../../contract/state-layout.ts';
import type { ChannelState } from './channel-state.ts';
import type { ObjectStore } from './object-store.ts';

export interface MessageStoreOptions {
  maxMessages?: number;
  maxAgeMs?: number;
}

export class SentMessageStore {
  private readonly order: string[] = [];
  private readonly state: ChannelState;
  private readonly store: ObjectStore;
  private readonly maxMessages: number;
  private readonly maxAgeMs: number;

  constructor(state: ChannelState, store: ObjectStore, options: MessageStoreOptions = {}) {
    this.state = state;
    this.store = store;
    this.maxMessages = options.maxMessages ?? 5_000;
    this.maxAgeMs = options.maxAgeMs ?? 7 * 24 * 60 * 60 * 1000;
  }

  /** Drops messages past their age, and remembers the rest oldest first. */
  async load(): Promise<void> {
    const listed = (await this.store.list(`${this.state.base}${SENT_MESSAGES_DIR}/`)).sort(
      (a, b) => a.lastModified.getTime() - b.lastModified.getTime(),
    );
    const cutoff = Date.now() - this.maxAgeMs;
    for (const o of listed) {
      if (o.lastModified.getTime() < cutoff) await this.store.delete(o.key);
      else this.order.push(o.key);
    }
    await this.trim();
  }

  async put(id: string, message: proto.IMessage): Promise<void> {
    const name = sentMessageName(id);
    const objects = this.state.sealedObjects();
    const key = objects.key(name);
    await this.store.put(key, objects.seal(name, proto.Message.encode(message).finish()));
    this.order.push(key);
    await this.trim();
  }

  async get(id: string): Promise<proto.IMessage | undefined> {
    const name = sentMessageName(id);
    const objects = this.state.sealedObjects();
    const stored = await this.store.get(objects.key(name));
    if (!stored) return undefined;
    return proto.Message.decode(objects.open(name, stored.body));
  }

  private async trim(): Promise<void> {
    while (this.order.length > this.maxMessages) await this.store.delete(this.order.shift()!);
  }
}
