import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import {
  LeaseTakenError,
  RenewalTimeoutError,
  type LeaseLoss,
} from '../../../worker/src/auth-store/lease-record.ts';
import { S3ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { eventually } from '../../harness/eventually.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { testStack } from '../../harness/stack.ts';
import { realStorage } from './fixtures.ts';

/**
 * The channel lease when S3 goes away for longer than the lease lasts (MinIO behind a proxy):
 * it is given up before it expires whether S3 refuses or hangs, it says why, and it is taken
 * back once S3 answers unless another worker took the channel meanwhile.
 */
const storage = await realStorage('lease-outage');
const clinic = 'clinic-l';
const proxies: TcpProxy[] = [];
const stores: S3ObjectStore[] = [];
afterAll(async () => {
  for (const p of proxies) await p.stop();
  for (const s of stores) s.destroy();
});

const timing = { ttlMs: 4_000, renewEveryMs: 1_000, safetyMarginMs: 1_000 };

/** A lease whose S3 requests go through a proxy the test can break; S3 client timeouts of 1 s. */
async function leaseBehindProxy(channel: string, holder: string) {
  const proxy = await TcpProxy.start(testStack().s3.endpoint);
  proxies.push(proxy);
  const store = new S3ObjectStore(storage.bucket, {
    ...storage.s3Config,
    endpoint: proxy.url,
    requestHandler: { requestTimeout: 1_000, connectionTimeout: 1_000 },
  });
  stores.push(store);
  const lease = new ChannelLease(store, `wa/${clinic}/${channel}/`, { holder, ...timing });
  const losses: LeaseLoss[] = [];
  lease.onLost((loss) => losses.push(loss));
  await lease.acquire();
  return { proxy, lease, losses };
}

const storedLease = async (channel: string) =>
  JSON.parse(Buffer.from((await storage.store.get(`wa/${clinic}/${channel}/lease`))!.body).toString()) as {
    holder: string;
    epoch: number;
    expiresAt: number;
  };

describe('the channel lease through an S3 outage longer than its TTL', () => {
  test('S3 refusing connections: lost as unrenewable, with the cause, and taken back with a new epoch', async () => {
    const { proxy, lease, losses } = await leaseBehindProxy('refused', 'pod-1');
    const epoch = lease.epoch;
    proxy.down();
    await eventually('the lease given up', async () => losses.length > 0, 20_000);
    expect(losses).toHaveLength(1);
    expect(losses[0]).toMatchObject({ kind: 'unrenewable' });
    expect(losses[0]!.detail).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(lease.valid()).toBe(false);
    // The renewal loop is not wedged: liveness must not restart a worker for S3's outage.
    expect(lease.renewing()).toBe(true);
    // Stored, the lease still names this holder and epoch: no one else took it.
    expect(await storedLease('refused')).toMatchObject({ holder: 'pod-1', epoch });

    await expect(lease.reacquire()).rejects.toThrow(); // still down
    proxy.up();
    await lease.reacquire();
    expect(lease.epoch).toBe(epoch + 1);
    expect(lease.valid()).toBe(true);
    expect(lease.lossCause).toBeUndefined();
    expect(await lease.stillHeld()).toBe(true);
    await lease.release();
  });

  test('S3 hanging (connections accepted, never answered): given up at the lease deadline, and taken back', async () => {
    const { proxy, lease, losses } = await leaseBehindProxy('hanging', 'pod-1');
    const epoch = lease.epoch;
    proxy.hang();
    await eventually('the lease given up', async () => losses.length > 0, 20_000);
    expect(losses[0]).toMatchObject({ kind: 'unrenewable' });
    const error = (losses[0] as { error: unknown }).error as Error;
    // Either the lease's own per-attempt deadline or the S3 client's request timeout said so.
    expect(error instanceof RenewalTimeoutError || /timeout|timed out/i.test(error.message)).toBe(true);
    expect(lease.valid()).toBe(false);
    proxy.up();
    await eventually(
      'the lease taken back',
      async () =>
        lease.reacquire().then(
          () => true,
          () => false,
        ),
      20_000,
    );
    expect(lease.epoch).toBeGreaterThan(epoch);
    expect(await lease.stillHeld()).toBe(true);
    await lease.release();
  });

  test('taken over by another worker during the outage: never taken back', async () => {
    const { proxy, lease, losses } = await leaseBehindProxy('taken', 'pod-1');
    proxy.down();
    await eventually('the lease given up', async () => losses.length > 0, 20_000);
    // Another worker (S3 reachable for it) waits for the expiry and takes the channel.
    const other = new ChannelLease(storage.store, `wa/${clinic}/taken/`, { holder: 'pod-2', ...timing });
    await other.acquire();
    proxy.up();
    const refused = await lease.reacquire().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(LeaseTakenError);
    expect((refused as LeaseTakenError).holder).toBe('pod-2');
    expect(await storedLease('taken')).toMatchObject({ holder: 'pod-2' });
    await other.release();
    expect(lease.lossCause).toEqual({ kind: 'taken', detail: 'taken over by pod-2' });
    // Even once the other worker released it, this one does not come back by itself.
    await expect(lease.reacquire()).rejects.toThrow();
    expect(await storedLease('taken')).toMatchObject({ holder: 'pod-2', expiresAt: 0 });
  });

  test('a renewal refused by S3 (someone else wrote the lease) is a takeover, not an outage', async () => {
    const { lease, losses } = await leaseBehindProxy('overwritten', 'pod-1');
    const record = await storedLease('overwritten');
    await storage.store.put(
      `wa/${clinic}/overwritten/lease`,
      Buffer.from(JSON.stringify({ ...record, holder: 'pod-9', epoch: record.epoch + 1 })),
    );
    await eventually('the lease lost', async () => losses.length > 0, 20_000);
    expect(losses[0]).toMatchObject({ kind: 'taken' });
    await expect(lease.reacquire()).rejects.toThrow();
  });
});
