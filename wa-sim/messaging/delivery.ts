/**
 * Store-and-forward towards companion devices, as the real server does: a stanza stays queued
 * for its device until the device acknowledges it (a receipt or an ack), is pushed at once while
 * the device is online, and is pushed again, marked offline="1", after the device's next login.
 * A message a client received but never confirmed therefore comes back after a reconnect.
 */
import type { CompanionDevice } from '../accounts/directory.ts';
import { deviceJid } from '../accounts/directory.ts';
import type { BinaryNode } from '../protocol/nodes.ts';
import type { ClientSession } from '../server/client-session.ts';
import type { MessagingStats } from './records.ts';

export interface DeliveryHost {
  /** Where a companion's stanzas go now: its logged-in, active session; undefined while offline. */
  activeSession(companion: CompanionDevice): ClientSession | undefined;
}

interface Pending {
  node: BinaryNode;
  deliveries: number;
}

/** The acknowledgement that clears a queued stanza: `message:<id>` or `receipt:<id>:<type>`. */
export function ackKey(stanzaClass: string, id: string, type?: string): string {
  return stanzaClass === 'receipt' ? `receipt:${id}:${type ?? ''}` : `${stanzaClass}:${id}`;
}

function keyOf(node: BinaryNode): string {
  return ackKey(node.tag, node.attrs.id ?? '', node.attrs.type);
}

export interface DeviceCounters {
  delivered: number;
  acknowledged: number;
}

export class DeliveryQueue {
  readonly #host: DeliveryHost;
  readonly #stats: MessagingStats;
  readonly #pending = new Map<CompanionDevice, Map<string, Pending>>();
  readonly #perDevice = new Map<string, DeviceCounters>();

  constructor(host: DeliveryHost, stats: MessagingStats) {
    this.#host = host;
    this.#stats = stats;
  }

  /** Queues a stanza for a companion and pushes it now if the companion is online. */
  push(companion: CompanionDevice, node: BinaryNode): void {
    let queue = this.#pending.get(companion);
    if (!queue) this.#pending.set(companion, (queue = new Map()));
    const key = keyOf(node);
    if (!queue.has(key)) this.#stats.pending++;
    const pending = { node, deliveries: 0 };
    queue.set(key, pending);
    const session = this.#host.activeSession(companion);
    if (session) this.#send(companion, session, pending, false);
  }

  /** After a login: pushes everything still unacknowledged, marked as offline delivery. */
  flush(session: ClientSession): number {
    const companion = session.companion;
    const queue = companion && this.#pending.get(companion);
    if (!companion || !queue) return 0;
    for (const pending of queue.values()) this.#send(companion, session, pending, true);
    return queue.size;
  }

  /** The companion acknowledged a stanza; false if nothing was waiting for that acknowledgement. */
  confirm(companion: CompanionDevice, key: string): boolean {
    const queue = this.#pending.get(companion);
    if (!queue?.delete(key)) return false;
    this.#stats.pending--;
    if (key.startsWith('message:')) {
      this.#stats.acknowledged++;
      this.#counters(companion).acknowledged++;
    } else if (key.startsWith('receipt:')) {
      this.#stats.receiptsAcked++;
    }
    return true;
  }

  /** A removed device will never come back for its queue. */
  drop(companion: CompanionDevice): void {
    this.#stats.pending -= this.#pending.get(companion)?.size ?? 0;
    this.#pending.delete(companion);
  }

  pendingFor(companion: CompanionDevice): number {
    return this.#pending.get(companion)?.size ?? 0;
  }

  counters(device: string): DeviceCounters {
    return { ...(this.#perDevice.get(device) ?? { delivered: 0, acknowledged: 0 }) };
  }

  #counters(companion: CompanionDevice): DeviceCounters {
    const jid = deviceJid(companion.account, companion.device);
    let counters = this.#perDevice.get(jid);
    if (!counters) this.#perDevice.set(jid, (counters = { delivered: 0, acknowledged: 0 }));
    return counters;
  }

  #send(companion: CompanionDevice, session: ClientSession, pending: Pending, offline: boolean): void {
    const node = offline ? { ...pending.node, attrs: { ...pending.node.attrs, offline: '1' } } : pending.node;
    session.send(node);
    pending.deliveries++;
    if (node.tag === 'message') {
      this.#stats.delivered++;
      this.#counters(companion).delivered++;
    } else if (node.tag === 'receipt') {
      this.#stats.receiptsToCompanions++;
    }
  }
}
