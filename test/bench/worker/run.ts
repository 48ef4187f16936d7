/**
 * npm run bench -- worker: the auth state store, against a baseline measured in the same
 * process: Baileys' own useMultiFileAuthState on local disk. Both commit the same
 * Signal key transactions (session records of ~1 KiB, as after each message).
 *
 * Printed: commit latency p50/p99 and throughput, S3 requests and KMS calls per
 * transaction, and start-up (open) time with a long journal vs after compaction.
 * Then the whole worker process against the simulator (session.ts): start → Connected with
 * restored state, idle RSS, inbound throughput and latency into JetStream, S3/KMS calls per
 * message, each next to a bare Baileys socket on useMultiFileAuthState.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { useMultiFileAuthState } from '@whiskeysockets/baileys';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ChannelState } from '../../../worker/src/auth-store/channel-state.ts';
import { KmsDataKeyProvider } from '../../../worker/src/auth-store/key-provider.ts';
import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import {
  S3ObjectStore,
  type ObjectStore,
  type PutCondition,
  type StreamPutOptions,
} from '../../../worker/src/auth-store/object-store.ts';
import { publishStack, startStack } from '../../harness/stack.ts';
import { runSessionBench } from './session.ts';

const TXNS = Number(process.env.BENCH_TXNS ?? 300);
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const txn = (i: number) => ({ session: { [`5511${i % 50}@s.whatsapp.net.0`]: randomBytes(1024) } });

class CountingStore implements ObjectStore {
  counts = { get: 0, put: 0, list: 0, delete: 0 };
  readonly inner: ObjectStore;
  constructor(inner: ObjectStore) {
    this.inner = inner;
  }
  get location() {
    return this.inner.location;
  }
  get(k: string) {
    this.counts.get++;
    return this.inner.get(k);
  }
  put(k: string, b: Uint8Array, c?: PutCondition) {
    this.counts.put++;
    return this.inner.put(k, b, c);
  }
  list(p: string) {
    this.counts.list++;
    return this.inner.list(p);
  }
  delete(k: string) {
    this.counts.delete++;
    return this.inner.delete(k);
  }
  getStream(k: string) {
    this.counts.get++;
    return this.inner.getStream(k);
  }
  putStream(k: string, b: Readable, o: StreamPutOptions) {
    this.counts.put++;
    return this.inner.putStream(k, b, o);
  }
}

async function timeCommits(set: (data: object) => unknown): Promise<{ lat: number[]; totalMs: number }> {
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < TXNS; i++) {
    const s = performance.now();
    await set(txn(i));
    lat.push(performance.now() - s);
  }
  return { lat, totalMs: performance.now() - t0 };
}

const running = await startStack(() => {}, ['nats', 's3', 'kms']);
// The session part reuses the worker tests' harness, which finds the servers this way.
await publishStack(running.stack);
try {
  const { s3, kms } = running.stack;
  const creds = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  await new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: creds,
  }).send(new CreateBucketCommand({ Bucket: 'bench' }));
  const key = await new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: creds }).send(
    new CreateKeyCommand({}),
  );

  // Baseline: Baileys' multi-file store on local disk.
  const dir = await mkdtemp(join(tmpdir(), 'bench-mfas-'));
  const mfas = await useMultiFileAuthState(dir);
  const base = await timeCommits((d) => mfas.state.keys.set(d as never));
  await rm(dir, { recursive: true, force: true });

  // Ours: S3 (MinIO) + KMS envelope, fenced journal.
  const store = new CountingStore(
    new S3ObjectStore('bench', {
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: creds,
    }),
  );
  const keys = new KmsDataKeyProvider(key.KeyMetadata!.KeyId!, {
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: creds,
  });
  const open = async (holder: string, compactEvery = 100_000) => {
    const lease = new ChannelLease(store, 'wa/bench/ch/', { holder, ttlMs: 60_000 });
    await lease.acquire();
    const state = new ChannelState({
      store,
      keyProvider: keys,
      lease,
      prefix: 'wa',
      clinic: 'bench',
      channel: 'ch',
      compactEvery,
    });
    const t = performance.now();
    await state.open();
    return { state, lease, openMs: performance.now() - t };
  };
  const a = await open('pod-1');
  const before = { ...store.counts };
  const kmsBefore = keys.calls;
  const ours = await timeCommits((d) => a.state.keys.set(d as never));
  const putsPerTxn = (store.counts.put - before.put) / TXNS;
  const getsPerTxn = (store.counts.get - before.get) / TXNS;
  const kmsPerTxn = (keys.calls - kmsBefore) / TXNS;
  await a.lease.release();
  const b = await open('pod-2');
  const openLongJournal = b.openMs;
  await b.state.compact();
  await b.lease.release();
  const c = await open('pod-3');
  const openAfterCompaction = c.openMs;
  await c.lease.release();

  const row = (name: string, r: { lat: number[]; totalMs: number }) => [
    name,
    percentile(r.lat, 50).toFixed(2),
    percentile(r.lat, 99).toFixed(2),
    ((TXNS / r.totalMs) * 1000).toFixed(0),
  ];
  const rows = [
    ['store', 'commit p50 ms', 'commit p99 ms', 'txn/s'],
    row('baseline: useMultiFileAuthState (disk)', base),
    row('ours: S3 journal + AES-GCM (MinIO, KMS)', ours),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\nauth state store, ${TXNS} key transactions of 1 KiB each`);
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  console.log(
    `\nper transaction (ours): ${putsPerTxn.toFixed(2)} S3 PUT, ${getsPerTxn.toFixed(2)} S3 GET, ${kmsPerTxn.toFixed(3)} KMS calls (KMS total this run: ${keys.calls}, i.e. per worker start only)`,
  );
  console.log(
    `worker start (open) with a ${TXNS + 1}-record journal: ${openLongJournal.toFixed(0)} ms; after compaction: ${openAfterCompaction.toFixed(0)} ms`,
  );
  console.log(
    `ratio ours/baseline commit p50: ${(percentile(ours.lat, 50) / percentile(base.lat, 50)).toFixed(1)}x`,
  );
  await runSessionBench(running.stack);
} finally {
  await running.stop();
}
