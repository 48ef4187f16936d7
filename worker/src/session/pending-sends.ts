/**
 * Sent messages the WhatsApp server has not acknowledged yet, resent after a reconnect — what
 * WhatsApp Web does with its pending messages.
 *
 * Baileys' `sendMessage` resolves once the stanza is written to the WebSocket. If the connection
 * dies before the server read it, the stanza is gone, yet the `send` command was answered `ok`
 * and its durable send log replays that answer to every retry. So the session keeps each sent
 * message (id → chat + message proto) until the server acks it, and relays it again, with the
 * SAME id, on the next socket that reaches Connected. The server deduplicates by id: a stanza it
 * did receive (only the ack was lost) is acked again and not delivered twice.
 *
 * In memory and bounded: a worker restart forgets what is pending (the send log still answers
 * `ok`), and past `capacity` the oldest entry is dropped, with a warning.
 */
import type { proto } from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import type { SessionSocket } from './ports.ts';

export const PENDING_SENDS_CAPACITY = 1_000;

interface Pending {
  jid: string;
  message: proto.IMessage;
  /** The linked account that sent it: never resent from another account (after a re-pairing). */
  account: string | undefined;
}

export interface ResendHooks {
  /** Whether `socket` is still the supervisor's current, connected socket. */
  isCurrent: () => boolean;
  /** A message was relayed again (the deaf detector then waits for its ack too). */
  resent: (id: string) => void;
}

export class PendingSends {
  private readonly pending = new Map<string, Pending>(); // insertion order = send order
  /** Acks that arrived before `sent()` recorded the id (the ack can beat the write's callback). */
  private readonly ackedEarly = new Set<string>();
  private readonly capacity: number;
  private readonly logger: Logger;

  constructor(logger: Logger, capacity = PENDING_SENDS_CAPACITY) {
    this.logger = logger;
    this.capacity = capacity;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Ids still waiting for the server's ack, oldest first (for tests and logs). */
  ids(): string[] {
    return [...this.pending.keys()];
  }

  /** A message was written to the socket; it stays pending until `acked(id)`. */
  sent(id: string, jid: string, message: proto.IMessage, account: string | undefined): void {
    if (this.ackedEarly.delete(id)) return;
    if (this.pending.size >= this.capacity) {
      const oldest = this.pending.keys().next().value!;
      this.pending.delete(oldest);
      this.logger.warn({ id: oldest }, 'too many unacknowledged sends; no longer resending the oldest');
    }
    this.pending.set(id, { jid, message, account });
  }

  /** The server acknowledged (or rejected: a resend would not change that) a message. */
  acked(id: string): void {
    if (this.pending.delete(id)) return;
    this.ackedEarly.add(id);
    // Bounded like the pending map; ids of acks for messages never pending age out first.
    if (this.ackedEarly.size > this.capacity) this.ackedEarly.delete(this.ackedEarly.values().next().value!);
  }

  /** Logout or a new identity: nothing pending may go out again. */
  clear(): void {
    this.pending.clear();
  }

  /**
   * Relays every pending message again on a socket that just reached Connected, oldest first,
   * with its original id. Stops at the first failure (the socket is dying; the next one retries)
   * or when the socket is no longer the current one.
   */
  async resend(socket: Pick<SessionSocket, 'relayMessage' | 'user'>, hooks: ResendHooks): Promise<void> {
    for (const [id, entry] of [...this.pending]) {
      if (!hooks.isCurrent()) return;
      if (!this.pending.has(id)) continue; // acked meanwhile
      if (entry.account !== socket.user?.id) {
        this.pending.delete(id);
        this.logger.warn({ id }, 'a pending send belongs to another linked account; dropped');
        continue;
      }
      try {
        await socket.relayMessage(entry.jid, entry.message, { messageId: id });
        this.logger.info({ id }, 'resent a message the server had not acknowledged');
        hooks.resent(id);
      } catch (err) {
        this.logger.warn({ err, id }, 'could not resend a pending message; the next connection will');
        return;
      }
    }
  }
}
