/**
 * Builds each Baileys socket with the worker's settings. Everything that must survive a
 * reconnect (the auth state object, the retry counters) is created once, outside, and shared;
 * everything per socket is created here.
 */
import makeWASocket, {
  Browsers,
  isJidBroadcast,
  isJidNewsletter,
  isJidStatusBroadcast,
  type AuthenticationCreds,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
  type proto,
} from '@whiskeysockets/baileys';
import type CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.ts';
import { boundedCacheStore } from './bounded-cache.ts';
import { holdFramesUntilDurable } from './durable-frames.ts';
import type { InboundGate } from './inbound-gate.ts';
import type { CommitPipeline, SessionSocket } from './ports.ts';

export interface SocketFactoryOptions {
  /**
   * The live auth state, read at each socket creation: after a quarantine or erase the store
   * hands out fresh creds, and the next socket must get those, not the old object.
   */
  auth: () => { creds: AuthenticationCreds; keys: SignalKeyStore };
  /** A message this channel sent, for a contact's retry request; undefined when unknown. */
  getMessage?: (id: string) => Promise<proto.IMessage | undefined>;
  waWebSocketUrl: string | undefined;
  /** The WhatsApp Web version to announce (WA_WEB_VERSION); undefined keeps Baileys' built-in one. */
  waWebVersion: readonly [number, number, number] | undefined;
  logger: Logger;
  metrics: Metrics;
  /** Wraps store calls; fails fast while the store keeps failing. */
  storeBreaker?: <T>(call: () => Promise<T>) => Promise<T>;
  /** A key commit failed (after Baileys' own retries): the socket must be restarted. */
  onStoreFailure: (err: unknown) => void;
  /**
   * Group commit: key writes return before they are durable and every outgoing frame waits
   * until they are (durable-frames.ts). Absent: each key write is awaited until durable.
   */
  pipeline?: CommitPipeline;
}

/**
 * Baileys retries a failed commit itself (default 10 × 3 s ≈ 27 s). The store already retries
 * S3 calls internally, so one extra attempt is enough: a dead store escalates to the
 * supervisor in about a second instead of half a minute.
 */
export const TRANSACTION_OPTIONS = { maxCommitRetries: 2, delayBetweenTriesMs: 500 };

/** Chats a clinic channel never needs: status updates, newsletters, broadcast lists. */
export function shouldIgnoreJid(jid: string): boolean {
  return !!(isJidStatusBroadcast(jid) || isJidNewsletter(jid) || isJidBroadcast(jid));
}

export function makeSocketFactory(options: SocketFactoryOptions): (gate: InboundGate) => SessionSocket {
  // Retry counts survive reconnects so a peer that keeps failing cannot make us retry forever.
  const msgRetryCounterCache = boundedCacheStore(5_000, 60 * 60_000);
  return (gate) => {
    const { creds, keys: durableKeys } = options.auth();
    const { pipeline } = options;
    // A new socket starts from the durable state: a commit that failed under the last one is dropped.
    pipeline?.reset();
    const keys = pipeline ? pipeline.keys : durableKeys;
    const sock = makeWASocket({
      auth: {
        creds,
        keys: instrumentKeys(keys, options.metrics, options.onStoreFailure, options.storeBreaker),
      },
      logger: options.logger,
      browser: Browsers.ubuntu('Chrome'),
      // History sync is off: a clinic channel needs live traffic, and full sync is the main
      // memory and CPU spike. Set before pairing; it goes into the pairing payload.
      syncFullHistory: false,
      markOnlineOnConnect: false,
      shouldIgnoreJid,
      msgRetryCounterCache,
      transactionOpts: TRANSACTION_OPTIONS,
      makeSignalRepository: gate.makeSignalRepository,
      // The encrypted sent-message store (auth-store/message-store.ts); a miss is undefined,
      // which makes Baileys skip the resend: never a placeholder.
      getMessage: async (key) => (key.id && options.getMessage ? options.getMessage(key.id) : undefined),
      generateHighQualityLinkPreview: false,
      ...(options.waWebSocketUrl ? { waWebSocketUrl: options.waWebSocketUrl } : {}),
      ...(options.waWebVersion ? { version: [...options.waWebVersion] as [number, number, number] } : {}),
    });
    if (pipeline) {
      holdFramesUntilDurable(sock.ws, {
        whenDurable: pipeline.whenDurable,
        onFailure: options.onStoreFailure,
      });
    }
    return sock as unknown as SessionSocket;
  };
}

/** Times every store call, reports write failures, and routes calls through the breaker. */
export function instrumentKeys(
  store: SignalKeyStore,
  metrics: Metrics,
  onFailure: (err: unknown) => void,
  breaker: (<T>(call: () => Promise<T>) => Promise<T>) | undefined,
): SignalKeyStore {
  const via = breaker ?? (<T>(call: () => Promise<T>) => call());
  const timed = async <T>(op: string, call: () => Promise<T>): Promise<T> => {
    const end = metrics.storeLatency.startTimer({ op });
    try {
      const out = await via(call);
      end({ outcome: 'ok' });
      return out;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  };
  return {
    get: <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) =>
      timed('get', async () => store.get(type, ids)),
    set: async (data: SignalDataSet) => {
      try {
        await timed('set', async () => store.set(data));
      } catch (err) {
        onFailure(err);
        throw err;
      }
    },
    ...(store.clear ? { clear: () => timed('clear', async () => store.clear!()) } : {}),
  };
}

export type { CircuitBreaker };
