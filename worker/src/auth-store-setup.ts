/**
 * Sets up the worker's auth state from its configuration: the object store (S3, or a folder in
 * local mode), the channel lease, the data key provider (KMS, or local mode's key file) and the
 * channel state (worker/src/auth-store, docs/state-store.md). The worker reaches them only
 * through the two handles declared in session/ports.ts. It also names a failed start's reason.
 */
import { MediaStore } from './media/media-store.ts';
import type { Logger } from 'pino';
import { ChannelState } from './auth-store/channel-state.ts';
import { UnreadableObjectError } from './auth-store/envelope.ts';
import {
  KeyGenerateError,
  KeyUnwrapError,
  KmsUnreachableError,
  KmsDataKeyProvider,
  type DataKeyProvider,
} from './auth-store/key-provider.ts';
import { ChannelLease } from './auth-store/lease.ts';
import { LeaseLostError } from './auth-store/lease-record.ts';
import { LocalDiskObjectStore } from './auth-store/local-disk-object-store.ts';
import { KeyFileError, LocalKeyFileProvider } from './auth-store/local-key-file-provider.ts';
import { SentMessageStore } from './auth-store/message-store.ts';
import {
  ObjectStoreError,
  PreconditionFailedError,
  S3ObjectStore,
  type ObjectStore,
} from './auth-store/object-store.ts';
import { KNOWN_CONTACTS_OBJECT } from '../../contract/state-layout.ts';
import { KnownContacts } from './pacing/known-contacts.ts';
import { FencedError, StateIntegrityError } from './auth-store/state-errors.ts';
import { channelStatePrefix, type WorkerConfig } from './config.ts';
import type { Metrics } from './ops/metrics.ts';
import type { AuthStateHandle, LeaseHandle } from './session/ports.ts';

export interface ChannelLeaseHandle extends LeaseHandle {
  readonly lease: ChannelLease;
  readonly store: ObjectStore;
}

/**
 * Times every object store call into `wa_worker_store_operation_seconds` by operation and
 * outcome: ok, conflict (a conditional write refused: the lease at work, not a failure) or error.
 */
function timedObjectStore(inner: ObjectStore, metrics: Metrics): ObjectStore {
  const time = async <T>(op: string, call: () => Promise<T>): Promise<T> => {
    const end = metrics.storeLatency.startTimer({ op });
    try {
      const out = await call();
      end({ outcome: 'ok' });
      return out;
    } catch (err) {
      end({ outcome: err instanceof PreconditionFailedError ? 'conflict' : 'error' });
      throw err;
    }
  };
  return {
    location: inner.location,
    get: (key) => time('get', () => inner.get(key)),
    put: (key, body, condition) => time('put', () => inner.put(key, body, condition)),
    list: (prefix) => time('list', () => inner.list(prefix)),
    delete: (key) => time('delete', () => inner.delete(key)),
    getStream: (key) => time('get', () => inner.getStream(key)),
    putStream: (key, body, options) => time('put', () => inner.putStream(key, body, options)),
    // The S3 client's sockets go with the store (acquireChannelLease, channel-hold.ts).
    ...{ destroy: () => (inner as { destroy?: () => void }).destroy?.() },
  } as ObjectStore;
}

function objectStore(config: WorkerConfig): ObjectStore {
  // Local mode (docs/local-mode.md): the same encrypted objects, in a folder.
  if (config.stateDir) return new LocalDiskObjectStore(config.stateDir);
  return new S3ObjectStore(config.s3.bucket, {
    region: config.s3.region,
    forcePathStyle: config.s3.forcePathStyle,
    ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
    // Shorter than the lease: an append cannot land long after the lease was checked.
    requestHandler: storeRequestHandler(config),
  });
}

/**
 * S3 and KMS give up on an attempt that does not connect, or does not answer, in time. Without
 * throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes and the request
 * waits forever: a hanging S3 then never fails a write, and the lease is lost first.
 */
function storeRequestHandler(config: WorkerConfig) {
  return {
    requestTimeout: config.timeouts.storeRequestMs,
    throwOnRequestTimeout: true,
    connectionTimeout: config.timeouts.storeConnectMs,
  };
}

/** Counts KMS calls by operation and outcome (the target is one Decrypt per start). */
function countedKeyProvider(inner: DataKeyProvider, metrics: Metrics): DataKeyProvider {
  const count = async <T>(op: string, call: () => Promise<T>) => {
    try {
      const out = await call();
      metrics.kmsCalls.inc({ op, outcome: 'ok' });
      return out;
    } catch (err) {
      metrics.kmsCalls.inc({ op, outcome: 'error' });
      throw err;
    }
  };
  return {
    keyId: inner.keyId,
    generate: (context) => count('GenerateDataKey', () => inner.generate(context)),
    unwrap: (wrapped, context) => count('Decrypt', () => inner.unwrap(wrapped, context)),
  };
}

export async function acquireChannelLease(
  config: WorkerConfig,
  logger: Logger,
  metrics: Metrics,
): Promise<ChannelLeaseHandle> {
  const store = timedObjectStore(objectStore(config), metrics);
  const lease = new ChannelLease(store, channelStatePrefix(config), {
    holder: config.leaseHolder,
    ttlMs: config.timeouts.leaseTtlMs,
    renewEveryMs: config.timeouts.leaseRenewMs,
    safetyMarginMs: config.timeouts.leaseMarginMs,
  });
  try {
    await lease.acquire(undefined, (held) =>
      logger.warn(
        { holder: held.holder, until: new Date(held.expiresAt).toISOString() },
        'waiting for the channel lease',
      ),
    );
  } catch (err) {
    // Retried with a new store (channel-hold.ts): this one's client and its sockets go now.
    (store as { destroy?: () => void }).destroy?.();
    throw err;
  }
  logger.info({ epoch: lease.epoch }, 'channel lease acquired');
  return {
    lease,
    store,
    stillHeld: () => lease.stillHeld(),
    renewing: () => lease.renewing(),
    release: () => lease.release(),
    onLost: (listener) => lease.onLost(listener),
  };
}

export async function openChannelState(
  config: WorkerConfig,
  logger: Logger,
  metrics: Metrics,
  leaseHandle: LeaseHandle,
): Promise<AuthStateHandle> {
  const { lease, store } = leaseHandle as ChannelLeaseHandle;
  const keyProvider = countedKeyProvider(
    config.keyFile
      ? await LocalKeyFileProvider.open(config.keyFile)
      : new KmsDataKeyProvider(config.kms.keyId, {
          region: config.kms.region,
          requestHandler: storeRequestHandler(config),
          ...(config.kms.endpoint ? { endpoint: config.kms.endpoint } : {}),
        }),
    metrics,
  );
  const state = new ChannelState({
    store,
    keyProvider,
    lease,
    prefix: config.s3.prefix,
    clinic: config.clinicId,
    channel: config.channelId,
    keepJournalMs: 2 * config.timeouts.leaseTtlMs,
    onCompactionError: (err) => logger.warn({ err }, 'state compaction failed (will retry later)'),
  });
  await state.open();
  const sentMessages = new SentMessageStore(state, store);
  // Sealed under the data key of the moment (an erasure makes a new one), like every object.
  const contactsObject = () => state.sealedObjects();
  // Two independent reads (a listing and a GET): side by side, one round trip instead of two.
  const [knownContacts] = await Promise.all([
    KnownContacts.open({
      read: async () => {
        const objects = contactsObject();
        const stored = await store.get(objects.key(KNOWN_CONTACTS_OBJECT));
        return stored ? objects.open(KNOWN_CONTACTS_OBJECT, stored.body) : undefined;
      },
      write: async (body: Uint8Array) => {
        const objects = contactsObject();
        await store.put(objects.key(KNOWN_CONTACTS_OBJECT), objects.seal(KNOWN_CONTACTS_OBJECT, body));
      },
    }),
    sentMessages.load(),
  ]);
  return {
    sentMessages,
    media: new MediaStore(() => state.sealedObjects()),
    knownContacts,
    current: () => ({ creds: state.creds, keys: state.keys }),
    pipeline: state.pipeline,
    saveCreds: () => state.saveCreds(),
    isFencingError: (err) => state.isFencingError(err),
    isRegistered: () => state.isRegistered(),
    flush: () => state.flush(),
    quarantine: async (reason) => {
      const where = await state.quarantine(reason);
      logger.warn({ reason, where }, 'auth state quarantined; starting over with fresh credentials');
    },
    erase: async (reason) => {
      await state.erase();
      logger.warn({ reason }, 'auth state erased; starting over with fresh credentials');
    },
    healthy: () => state.healthy(),
  };
}

/** A short machine-readable reason and a human message for a failure to load the state. */
export function describeStateError(err: unknown): { reason: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof KeyUnwrapError) return { reason: 'DataKeyUndecryptable', message };
  if (err instanceof KeyGenerateError) return { reason: 'KmsKeyUnavailable', message };
  if (err instanceof KmsUnreachableError) return { reason: 'KmsUnavailable', message };
  if (err instanceof KeyFileError) return { reason: 'DataKeyUndecryptable', message };
  if (err instanceof UnreadableObjectError) return { reason: 'StateObjectUnreadable', message };
  if (err instanceof StateIntegrityError) return { reason: 'StateInconsistent', message };
  if (err instanceof FencedError || err instanceof LeaseLostError) return { reason: 'LeaseLost', message };
  if (err instanceof ObjectStoreError) return { reason: 'StoreUnavailable', message };
  return { reason: 'StateUnreadable', message };
}
