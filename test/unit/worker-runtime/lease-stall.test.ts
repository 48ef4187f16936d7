import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import {
  RenewalTimeoutError,
  WorkerStalledError,
  type LeaseLoss,
} from '../../../worker/src/auth-store/lease-record.ts';
import { LocalDiskObjectStore } from '../../../worker/src/auth-store/local-disk-object-store.ts';
import type { ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { eventually } from '../../harness/eventually.ts';

/**
 * Why a lease was given up, on the local-disk store: a process that did not run past its
 * deadline (a starved event loop) says so, and takes the lease back; a store that stops
 * answering is still reported as the store not answering.
 */
let dir: string;
let disk: LocalDiskObjectStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-lease-stall-'));
  disk = new LocalDiskObjectStore(join(dir, 'state'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Blocks this thread: no timer, no I/O callback runs meanwhile, as in a process that gets no CPU. */
const stallThread = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

async function heldLease(
  store: ObjectStore,
  timing: { ttlMs: number; renewEveryMs: number; safetyMarginMs: number },
) {
  const lease = new ChannelLease(store, 'wa/clinic-s/main/', { holder: 'pod-a', ...timing });
  const losses: LeaseLoss[] = [];
  lease.onLost((loss) => losses.push(loss));
  await lease.acquire();
  return { lease, losses };
}

test('a process stalled past its lease deadline gives the lease up naming the stall, and takes it back', async () => {
  const { lease, losses } = await heldLease(disk, { ttlMs: 600, renewEveryMs: 150, safetyMarginMs: 150 });
  const epoch = lease.epoch;
  stallThread(1_500); // the deadline is 450 ms after the last renewal
  await eventually('the lease given up', async () => losses.length > 0, 10_000);
  expect(losses).toHaveLength(1);
  const loss = losses[0] as Extract<LeaseLoss, { kind: 'unrenewable' }>;
  expect(loss.kind).toBe('unrenewable'); // not a takeover: it may be taken back
  expect(loss.error).toBeInstanceOf(WorkerStalledError);
  expect((loss.error as WorkerStalledError).lateMs).toBeGreaterThanOrEqual(150);
  expect(loss.detail).toMatch(
    /^this worker's own timers ran \d+ ms late \(its process was stalled or starved of CPU\)/,
  );
  expect(lease.valid()).toBe(false);

  await lease.reacquire();
  expect(lease.epoch).toBe(epoch + 1);
  expect(lease.valid()).toBe(true);
  await lease.release();
});

test('a store that stops answering, in a process that runs, is still the store not answering', async () => {
  let hanging = false;
  // The local store, except that its writes stop being answered once `hanging`.
  const store: ObjectStore = {
    location: disk.location,
    get: (key) => disk.get(key),
    put: (key, body, condition) =>
      hanging ? new Promise<string>(() => undefined) : disk.put(key, body, condition),
    list: (prefix) => disk.list(prefix),
    delete: (key) => disk.delete(key),
    getStream: (key) => disk.getStream(key),
    putStream: (key, body, options) => disk.putStream(key, body, options),
  };
  const { lease, losses } = await heldLease(store, {
    ttlMs: 3_000,
    renewEveryMs: 1_000,
    safetyMarginMs: 1_000,
  });
  hanging = true;
  await eventually('the lease given up', async () => losses.length > 0, 10_000);
  const loss = losses[0] as Extract<LeaseLoss, { kind: 'unrenewable' }>;
  expect(loss.kind).toBe('unrenewable');
  expect(loss.error).toBeInstanceOf(RenewalTimeoutError);
  expect(loss.error).not.toBeInstanceOf(WorkerStalledError);
  expect(loss.detail).toMatch(/^no answer to the renewal of wa\/clinic-s\/main\/lease within 1000 ms/);
  expect(lease.valid()).toBe(false);
});
