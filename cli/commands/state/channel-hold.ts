/**
 * Taking a channel out of service for a restore, and giving it back: `spec.suspend` through the
 * API server (the operator deletes the worker pod, whose worker releases the channel lease),
 * then the channel lease itself, taken by the CLI with the worker's own lease code. While the
 * CLI holds the lease no worker can open the state (a worker started meanwhile waits for it),
 * and its epoch keeps rising, so a later worker fences after every restored journal record.
 */
import { hostname } from 'node:os';
import type { KubernetesObject } from '@kubernetes/client-node';
import { PatchStrategy } from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../../../contract/index.ts';
import { channelStatePrefix, LEASE_OBJECT } from '../../../contract/state-layout.ts';
import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import type { LeaseRecord } from '../../../worker/src/auth-store/lease-record.ts';
import { CliError } from '../../connection.ts';
import type { ChannelTarget, StateAccess } from './state-access.ts';

/** The lease's time to live while the CLI holds it (the workers' default). */
const LEASE_TTL_MS = 15_000;

async function setSuspend(access: StateAccess, target: ChannelTarget, suspend: boolean): Promise<void> {
  const { namespace, name } = target.resource!;
  await access.kube.patch(
    {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace },
      spec: { suspend },
    } as KubernetesObject,
    undefined,
    undefined,
    'wa-cli',
    undefined,
    PatchStrategy.MergePatch,
  );
}

/** The stored lease, if any (plain JSON). */
async function storedLease(access: StateAccess, target: ChannelTarget): Promise<LeaseRecord | undefined> {
  const stored = await access.store(target.bucket).get(`${channelStatePrefix(target)}${LEASE_OBJECT}`);
  return stored ? (JSON.parse(Buffer.from(stored.body).toString('utf8')) as LeaseRecord) : undefined;
}

export interface HeldChannel {
  lease: ChannelLease;
  /** Whether the channel was suspended already before (then it stays suspended afterwards). */
  wasSuspended: boolean;
}

/**
 * Suspends the channel, waits until its worker has let the lease go (released, or expired after
 * a worker that died), and takes the lease. `say` reports progress to the person.
 */
export async function holdChannel(
  access: StateAccess,
  target: ChannelTarget,
  waitMs: number,
  say: (line: string) => void,
): Promise<HeldChannel> {
  if (!target.resource) throw new Error('a channel is held through its resource');
  const resource = await access.resource(`${target.resource.namespace}/${target.resource.name}`);
  const wasSuspended = resource.spec.suspend === true;
  if (!wasSuspended) {
    await setSuspend(access, target, true);
    say(`suspended ${target.resource.namespace}/${target.resource.name} (spec.suspend: true)`);
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lease = await storedLease(access, target);
    if (!lease || lease.expiresAt <= Date.now()) break;
    if (Date.now() > deadline)
      throw new CliError(
        `the worker ${lease.holder} still holds the channel lease after ${Math.round(waitMs / 1000)} s; ` +
          'nothing was restored. Check that its pod is gone (kubectl get pods), then run the command again',
      );
    await new Promise((r) => setTimeout(r, 500));
  }
  say('the worker has stopped (lease released)');
  const lease = new ChannelLease(access.store(target.bucket), channelStatePrefix(target), {
    holder: `wa-cli-restore/${hostname()}/${process.pid}`,
    ttlMs: LEASE_TTL_MS,
  });
  try {
    await lease.acquire(AbortSignal.timeout(Math.max(waitMs, LEASE_TTL_MS * 2)));
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError') throw err;
    throw new CliError(
      'a worker took the channel lease again although the channel is suspended; nothing was restored',
    );
  }
  return { lease, wasSuspended };
}

/** Releases the lease and, unless it was suspended before, resumes the channel. */
export async function releaseChannel(
  access: StateAccess,
  target: ChannelTarget,
  held: HeldChannel,
  say: (line: string) => void,
): Promise<void> {
  await held.lease.release();
  if (held.wasSuspended) {
    say('the channel was suspended before the restore: it stays suspended');
    return;
  }
  await setSuspend(access, target, false);
  say(`resumed ${target.resource!.namespace}/${target.resource!.name} (spec.suspend: false)`);
}
