/**
 * What the server knows about one connection after the handshake: whether it is registering
 * (pairing) or logged in as a companion device, plus server-initiated queries waiting for the
 * client's answer (matched by iq id, as the client matches ours).
 */
import type { CompanionDevice } from '../accounts/directory.ts';
import type { BinaryNode } from '../protocol/nodes.ts';
import type { Connection } from './connection.ts';
import type { Registration } from '../pairing/registration.ts';

interface Waiter {
  resolve: (node: BinaryNode) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

let nextQueryId = 1;

export class ClientSession {
  readonly conn: Connection;
  /** Set for a connection that sent a registration payload (a new device waiting to be paired). */
  registration?: Registration;
  /** Set once a login was accepted. */
  companion?: CompanionDevice;
  /** The client said `passive active`: the server may push queued (offline) stanzas. */
  active = false;
  readonly #waiters = new Map<string, Waiter>();

  constructor(conn: Connection) {
    this.conn = conn;
  }

  send(node: BinaryNode): void {
    this.conn.send(node);
  }

  /** Sends a server-initiated iq and resolves with the client's answer. */
  request(node: BinaryNode, timeoutMs = 15_000): Promise<BinaryNode> {
    const id = node.attrs.id ?? `sim.${nextQueryId++}`;
    node.attrs.id = id;
    return new Promise<BinaryNode>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error(`no answer to ${node.tag} ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, { resolve, reject, timer });
      this.send(node);
    });
  }

  /** Hands an iq result/error to the query waiting for it; false when nobody waits. */
  answer(node: BinaryNode): boolean {
    const id = node.attrs.id;
    const waiter = id ? this.#waiters.get(id) : undefined;
    if (!waiter || !id) return false;
    this.#waiters.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(node);
    return true;
  }

  closed(): void {
    for (const waiter of this.#waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('connection closed'));
    }
    this.#waiters.clear();
  }
}
