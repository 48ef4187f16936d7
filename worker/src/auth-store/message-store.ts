/**
 * Sent messages kept for Baileys' getMessage (a contact that failed to decrypt asks
 * for a resend). Encrypted like the rest of the state, bounded by count and age.
 * An unknown id gives undefined, never a placeholder: a placeholder would be resent
 * to the contact as if it were the message.
 */
import { proto } from '@whiskeysockets/baileys';
import { messageObjectName, type ChannelState } from './channel-state.ts';
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
    const listed = (await this.store.list(`${this.state.base}messages/`)).sort(
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
    const name = messageObjectName(id);
    const key = `${this.state.base}${name}`;
    await this.store.put(key, this.state.sealObject(name, proto.Message.encode(message).finish()));
    this.order.push(key);
    await this.trim();
  }

  async get(id: string): Promise<proto.IMessage | undefined> {
    const name = messageObjectName(id);
    const stored = await this.store.get(`${this.state.base}${name}`);
    if (!stored) return undefined;
    return proto.Message.decode(this.state.openObject(name, stored.body));
  }

  private async trim(): Promise<void> {
    while (this.order.length > this.maxMessages) await this.store.delete(this.order.shift()!);
  }
}
