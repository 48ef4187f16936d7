/**
 * Holds back WhatsApp's delivery receipt for an inbound message until the message is stored in
 * JetStream. This is how "nothing acknowledged is lost" is kept (docs/worker.md §"Holding back
 * acknowledgements").
 *
 * Why here: Baileys (Socket/messages-recv.js, handleMessage) decrypts a message node, then sends
 * the delivery receipt, and only then emits `messages.upsert` — so an app that publishes from
 * `messages.upsert` acknowledges first and publishes second; a crash in between loses the
 * message. The one awaited step between "plaintext exists" and "receipt is sent" that an app
 * controls without touching Baileys is the Signal repository (`makeSignalRepository` config
 * option): Baileys awaits `decryptMessage`/`decryptGroupMessage` for each `<enc>` child.
 *
 * The wrapper opens a Signal transaction itself (Baileys' own transaction inside the default
 * repository joins it), decrypts, rebuilds the message exactly as Baileys does
 * (decodeMessageNode + the decrypted proto + cleanMessage), and waits for `deliver` — the
 * durable JetStream publish — before returning. Order: decrypt in memory → JetStream ack →
 * Signal session commit (keys.set, durable in S3) → Baileys sends the receipt.
 * - crash before the JetStream ack: nothing committed, nothing acknowledged; WhatsApp
 *   redelivers and the message decrypts again;
 * - crash after the JetStream ack but before the session commit: WhatsApp redelivers, the
 *   message decrypts again with the old session, the publish is deduplicated by message id.
 * If the socket ends while a message waits (NATS down), `deliver` rejects, the transaction
 * rolls back and Baileys never acknowledges the message.
 *
 * The node a ciphertext belongs to is found by object identity: Baileys passes the very
 * Uint8Array of the `<enc>` child, which we saw first in our `CB:message` listener.
 */
import {
  DEFAULT_CONNECTION_CONFIG,
  cleanMessage,
  decodeMessageNode,
  proto,
  unpadRandomMax16,
  type BinaryNode,
  type SignalRepositoryWithLIDStore,
  type WAMessage,
} from '@whiskeysockets/baileys';
import { LRUCache } from 'lru-cache';

type MakeSignalRepository = typeof DEFAULT_CONNECTION_CONFIG.makeSignalRepository;
type SignalAuth = Parameters<MakeSignalRepository>[0];

/** The durable publish of one inbound message; rejects if `signal` aborts first. */
export type DeliverInbound = (message: WAMessage, signal: AbortSignal) => Promise<void>;

interface NodeRecord {
  node: BinaryNode;
  /** Decoded content of each decryptable child, in document order. */
  parts: (proto.IMessage | undefined)[];
  lastIndex: number;
}

interface Part {
  record: NodeRecord;
  index: number;
}

export interface InboundGateOptions {
  deliver: DeliverInbound;
  /** Our own ids, for decodeMessageNode/cleanMessage (from the live creds). */
  me: () => { id: string; lid: string };
  onUnmatched?: () => void;
  /**
   * Group commit (auth-store/group-commit.ts): when given, the gate does not wait for the
   * JetStream ack inside the transaction; it makes the transaction's commit wait for it instead
   * (`commitAfter`), and the socket holds the receipt until that commit is durable. The order
   * stays JetStream ack → Signal commit → receipt, but the next message decrypts meanwhile.
   * What must happen before the commit is even queued (storing an attachment, which may ask
   * WhatsApp for a re-upload through the socket whose frames wait for commits) is `prepare`,
   * still awaited inside the transaction; it resolves with the publish, or undefined.
   */
  pipeline?: {
    prepare: (message: WAMessage, signal: AbortSignal) => Promise<(() => Promise<void>) | undefined>;
    commitAfter: (stored: Promise<unknown>) => void;
  };
}

export class InboundGate {
  private readonly opts: InboundGateOptions;
  private readonly parts = new WeakMap<Uint8Array, Part>();
  private abort = new AbortController();
  /** Message ids published through the gate; the upsert fallback skips them. Bounded. */
  private readonly delivered = new LRUCache<string, true>({ max: 4096 });

  constructor(opts: InboundGateOptions) {
    this.opts = opts;
  }

  /** Call from `sock.ws.on('CB:message', …)`: remembers the node's ciphertexts. */
  observe(node: BinaryNode): void {
    if (!Array.isArray(node.content)) return;
    const decryptable = node.content.filter(
      (child) => (child.tag === 'enc' || child.tag === 'plaintext') && child.content instanceof Uint8Array,
    );
    if (decryptable.length === 0) return;
    const record: NodeRecord = { node, parts: [], lastIndex: decryptable.length - 1 };
    decryptable.forEach((child, index) => {
      // `plaintext` children never reach the repository; if one comes last the message is
      // published by the upsert fallback instead (newsletters only, which we ignore anyway).
      if (child.tag === 'enc') this.parts.set(child.content as Uint8Array, { record, index });
    });
  }

  /** Whether a message id already went through the gate (so the upsert fallback skips it). */
  wasDelivered(id: string): boolean {
    return this.delivered.has(id);
  }

  /** The socket ended: every message still waiting for JetStream gives up (and is not acked). */
  abortWaiting(reason: Error): void {
    this.abort.abort(reason);
    this.abort = new AbortController();
  }

  /** The `makeSignalRepository` option for makeWASocket. */
  readonly makeSignalRepository: MakeSignalRepository = (auth, logger, pnToLid) => {
    const inner = DEFAULT_CONNECTION_CONFIG.makeSignalRepository(auth, logger, pnToLid);
    return this.wrap(inner, auth);
  };

  private wrap(inner: SignalRepositoryWithLIDStore, auth: SignalAuth): SignalRepositoryWithLIDStore {
    const keys = auth.keys;
    if (!('transaction' in keys)) {
      // makeSocket always wraps the store with addTransactionCapability before calling us.
      throw new Error('the Signal key store has no transaction capability');
    }
    const gated = async (ciphertext: Uint8Array, txKey: string, decrypt: () => Promise<Uint8Array>) => {
      const part = this.parts.get(ciphertext);
      if (!part) {
        this.opts.onUnmatched?.();
        return decrypt();
      }
      const signal = this.abort.signal;
      return keys.transaction(async () => {
        const plaintext = await decrypt();
        part.record.parts[part.index] = decodePart(plaintext);
        if (part.index === part.record.lastIndex) {
          const message = this.assemble(part.record);
          if (message) {
            const { pipeline } = this.opts;
            if (pipeline) {
              const publish = await pipeline.prepare(message, signal);
              const stored = publish?.();
              if (stored) {
                pipeline.commitAfter(stored);
                // Its failure fails the commit (and so the receipt); nothing else waits on it here.
                stored.catch(() => undefined);
              }
            } else {
              await this.opts.deliver(message, signal);
            }
            this.remember(message.key.id!);
          }
        }
        // The socket ended meanwhile: roll back rather than commit for a socket that is gone.
        if (signal.aborted) throw signal.reason;
        return plaintext;
      }, txKey);
    };
    return {
      ...inner,
      decryptMessage: (args) => gated(args.ciphertext, args.jid, () => inner.decryptMessage(args)),
      decryptGroupMessage: (args) => gated(args.msg, args.group, () => inner.decryptGroupMessage(args)),
    };
  }

  private assemble(record: NodeRecord): WAMessage | undefined {
    const me = this.opts.me();
    let full: WAMessage;
    try {
      full = decodeMessageNode(record.node, me.id, me.lid).fullMessage;
    } catch {
      return undefined; // Baileys itself will fail on this node and nack it
    }
    let content: proto.IMessage | undefined;
    for (const part of record.parts) {
      if (!part) continue;
      content = content ? Object.assign(content, part) : part;
    }
    if (!content) return undefined;
    full.message = content;
    cleanMessage(full, me.id, me.lid);
    return full;
  }

  private remember(id: string): void {
    this.delivered.set(id, true);
  }
}

/** What Baileys does with each decrypted buffer (decode-wa-message.js). */
function decodePart(plaintext: Uint8Array): proto.IMessage {
  const msg = proto.Message.decode(unpadRandomMax16(plaintext));
  return msg.deviceSentMessage?.message ?? msg;
}
