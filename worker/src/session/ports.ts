/**
 * What the session supervisor needs from the outside world, as small interfaces. Production
 * wires them to Baileys, the S3+KMS store, the lease and NATS (worker/src/main.ts); the unit
 * tests wire them to fakes.
 */
import type { BaileysEventMap, BinaryNode, ConnectionState, WAMessage } from '@whiskeysockets/baileys';
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
  sendMessage(jid: string, content: { text: string; linkPreview: null }): Promise<WAMessage | undefined>;
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
}

export interface LeasePort {
  /** Checks with the lease's source of truth, not a cached flag. */
  stillHeld(): Promise<boolean>;
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
