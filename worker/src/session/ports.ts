/**
 * What the session supervisor needs from the outside world, as small interfaces. Production
 * wires them to Baileys, the S3+KMS store, the lease and NATS (worker/src/compose-worker.ts);
 * the unit tests wire them to fakes.
 */
import type { MediaStore } from '../media/media-store.ts';
import type { KnownContacts } from '../pacing/known-contacts.ts';
import type {
  AnyMessageContent,
  AuthenticationCreds,
  GroupMetadata,
  USyncQuery,
  WAPresence,
  BaileysEventMap,
  BinaryNode,
  ConnectionState,
  SignalKeyStore,
  WAMessage,
  proto,
} from '@whiskeysockets/baileys';
import type { Phase } from '../../../contract/index.ts';

/** The part of a Baileys socket (ReturnType<typeof makeWASocket>) the worker uses. */
export interface SessionSocket {
  ev: {
    on<E extends keyof BaileysEventMap>(event: E, listener: (arg: BaileysEventMap[E]) => void): void;
    off<E extends keyof BaileysEventMap>(event: E, listener: (arg: BaileysEventMap[E]) => void): void;
  };
  ws: {
    on(event: string, listener: (...args: never[]) => void): unknown;
    off(event: string, listener: (...args: never[]) => void): unknown;
  };
  user?: { id: string; lid?: string; name?: string } | undefined;
  end(error: Error | undefined): void | Promise<void>;
  logout(msg?: string): Promise<void>;
  requestPairingCode(phoneNumber: string): Promise<string>;
  query(node: BinaryNode, timeoutMs?: number): Promise<unknown>;
  sendMessage(
    jid: string,
    content: AnyMessageContent,
    options?: { messageId?: string },
  ): Promise<WAMessage | undefined>;
  readMessages(keys: proto.IMessageKey[]): Promise<void>;
  sendPresenceUpdate(type: WAPresence, toJid?: string): Promise<void>;
  /** The usync query behind `check` (contact + LID protocols). */
  executeUSyncQuery(query: USyncQuery): Promise<{ list: Record<string, unknown>[] } | undefined>;
  groupMetadata(jid: string): Promise<GroupMetadata>;
  /** WhatsApp's media re-upload request for an expired attachment (updateMediaMessage). */
  updateMediaMessage(message: WAMessage): Promise<WAMessage>;
  /** Sends an already built message again under its original id (pending-sends.ts). */
  relayMessage(jid: string, message: proto.IMessage, options: { messageId: string }): Promise<unknown>;
}

export type ConnectionUpdate = Partial<ConnectionState>;

/** The auth state (S3 + KMS) as the supervisor sees it. */
export interface AuthStatePort {
  /** Whether the loaded creds belong to a linked device (paired at least once). */
  isRegistered(): boolean;
  /** Resolves once every creds save started so far is durable. Throws if it cannot be. */
  flush(): Promise<void>;
  /** Moves the channel's state aside (kept for investigation) and starts over with fresh creds. */
  quarantine(reason: string): Promise<void>;
  /** Deletes the channel's state and starts over with fresh creds. */
  erase(reason: string): Promise<void>;
  /** Cheap check that the store can read and write again (after a failed commit). */
  healthy(): Promise<boolean>;
  /** Errors that mean "another worker owns the channel", not "the store is broken". */
  isFencingError(err: unknown): boolean;
}

/** The loaded auth state as the whole worker uses it (auth-store-setup.ts builds it from the store). */
/**
 * Group commit (auth-store/group-commit.ts) as a socket uses it: key writes that return before
 * they are durable, and the promise every outgoing frame waits for.
 */
export interface CommitPipeline {
  /** The key store whose set() returns once the change is visible to reads, before it is durable. */
  keys: SignalKeyStore;
  /** Resolves when every change so far is durable (rejects if one failed); undefined when none is pending. */
  whenDurable(): Promise<void> | undefined;
  /** The next record is written only after `p` resolves (an inbound message's JetStream ack). */
  commitAfter(p: Promise<unknown>): void;
  /** A new socket: after a failed commit, take changes again, from the durable state. */
  reset(): void;
}

export interface AuthStateHandle extends AuthStatePort {
  /** The live creds object and key store (replaced after quarantine/erase). */
  current(): { creds: AuthenticationCreds; keys: SignalKeyStore };
  /** Group commit, for the socket (absent: every key write is awaited until durable). */
  pipeline?: CommitPipeline;
  /** Persists the whole current creds object; single-flight in the store. */
  saveCreds(): Promise<void>;
  /** The channel's stored attachments (sealed like the state; media/media-store.ts). */
  media?: MediaStore;
  /** Sent messages kept (encrypted, bounded) for Baileys' getMessage retries. */
  sentMessages?: {
    get(id: string): Promise<proto.IMessage | undefined>;
    put(id: string, message: proto.IMessage): Promise<void>;
  };
  /** The contacts the channel talked to, loaded from their sealed object (pacing/known-contacts.ts). */
  knownContacts?: KnownContacts;
}

export interface LeasePort {
  /** Checks with the lease's source of truth, not a cached flag. */
  stillHeld(): Promise<boolean>;
}

export interface LeaseHandle extends LeasePort {
  /** Renewals are current (for liveness: a wedged renewal loop is a wedged worker). */
  renewing(): boolean;
  release(): Promise<void>;
  /** Called once if the lease is lost while held (renewal refused or expired). */
  onLost?(listener: () => void): void;
}

/** Where the channel's status goes: the worker has one producer of status (status-publisher.ts). */
export interface StatusPort {
  publish(report: StatusReport): void;
}

export type PairingPayload =
  | { type: 'qr'; qr: string; attempt: number; maxAttempts: number }
  | { type: 'code'; code: string; phoneNumber: string };

export interface StatusReport {
  phase: Phase;
  reason: string | undefined;
  message: string | undefined;
  account: string | undefined;
  reconnects: number;
  degraded: boolean;
  lastConnectedAt: string | undefined;
  /** The send pacing's state, added by the status publisher (status-publisher.ts). */
  pacing?: { throttled: boolean; ratePerMinute: number } | undefined;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
