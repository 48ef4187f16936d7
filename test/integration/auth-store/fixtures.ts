import type { Readable } from 'node:stream';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import { KmsDataKeyProvider } from '../../../worker/src/auth-store/key-provider.ts';
import {
  S3ObjectStore,
  type ObjectStore,
  type PutCondition,
  type StreamPutOptions,
} from '../../../worker/src/auth-store/object-store.ts';
import { ChannelState, type ChannelStateOptions } from '../../../worker/src/auth-store/channel-state.ts';
import { testStack } from '../../harness/stack.ts';

/** A bucket of its own and a KMS key of its own for one test file, on the real servers. */
export async function realStorage(name: string) {
  const { s3, kms } = testStack();
  const bucket = `${name}-${Date.now().toString(36)}`;
  const s3Config = {
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  };
  const admin = new S3Client(s3Config);
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  admin.destroy();
  const kmsConfig = {
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: { accessKeyId: kms.accessKeyId, secretAccessKey: kms.secretAccessKey },
  };
  const kmsClient = new KMSClient(kmsConfig);
  const { KeyMetadata } = await kmsClient.send(new CreateKeyCommand({ Description: name }));
  kmsClient.destroy();
  return {
    bucket,
    s3Config,
    store: new S3ObjectStore(bucket, s3Config),
    keyProvider: new KmsDataKeyProvider(KeyMetadata!.KeyId!, kmsConfig),
    kmsConfig,
    keyId: KeyMetadata!.KeyId!,
  };
}

/**
 * The environment that points a worker (or the operator, for its pods) at this storage in the
 * test stack: bucket, KMS key and endpoints. Cloud credentials are separate: the operator passes
 * them to pods through a Secret.
 */
export function stateStoreEnv(storage: { bucket: string; keyId: string }): Record<string, string> {
  const { s3, kms } = testStack();
  return {
    WA_S3_BUCKET: storage.bucket,
    WA_S3_ENDPOINT: s3.endpoint,
    WA_S3_REGION: s3.region,
    WA_KMS_KEY_ID: storage.keyId,
    WA_KMS_ENDPOINT: kms.endpoint,
  };
}

/**
 * Wraps the real store so a test can make writes fail for a while (S3 "down" for writes), or
 * lose their answers: the write lands in S3, and the writer is told the connection broke (as
 * when a network cut falls between the server's commit and its reply).
 */
export class SwitchableStore implements ObjectStore {
  failPuts = false;
  loseAnswers = false;
  /** Sends every write twice, as the S3 client's retry does when the first answer was lost. */
  replayPuts = false;
  readonly inner: ObjectStore;
  constructor(inner: ObjectStore) {
    this.inner = inner;
  }
  get location() {
    return this.inner.location;
  }
  get(key: string) {
    return this.inner.get(key);
  }
  put(key: string, body: Uint8Array, condition?: PutCondition) {
    if (this.failPuts) return Promise.reject(new Error('connect ECONNREFUSED (injected)'));
    if (this.loseAnswers)
      return this.inner.put(key, body, condition).then(() => {
        throw new Error('read ECONNRESET (injected after the write landed)');
      });
    if (this.replayPuts)
      return this.inner.put(key, body, condition).then(() => this.inner.put(key, body, condition));
    return this.inner.put(key, body, condition);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  getStream(key: string) {
    return this.inner.getStream(key);
  }
  putStream(key: string, body: Readable, options: StreamPutOptions) {
    if (this.failPuts) return Promise.reject(new Error('connect ECONNREFUSED (injected)'));
    return this.inner.putStream(key, body, options);
  }
}

export async function openChannel(
  storage: { store: ObjectStore; keyProvider: KmsDataKeyProvider },
  clinic: string,
  channel: string,
  holder: string,
  extra: Partial<ChannelStateOptions> & {
    leaseTtlMs?: number;
    now?: () => number;
    renewEveryMs?: number;
  } = {},
) {
  const lease = new ChannelLease(storage.store, `wa/${clinic}/${channel}/`, {
    holder,
    ttlMs: extra.leaseTtlMs ?? 10_000,
    ...(extra.now ? { now: extra.now } : {}),
    ...(extra.renewEveryMs ? { renewEveryMs: extra.renewEveryMs } : {}),
  });
  await lease.acquire();
  const state = new ChannelState({
    store: storage.store,
    keyProvider: storage.keyProvider,
    lease,
    prefix: 'wa',
    clinic,
    channel,
    ...extra,
  });
  await state.open();
  return { state, lease };
}
