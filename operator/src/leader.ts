/**
 * Leader election with a coordination.k8s.io/v1 Lease, as Kubernetes' own controllers
 * do it: the holder renews every `renewEveryMs`; another replica takes the lease
 * only after `durationMs` without renewal; every write is conditional on the Lease's
 * resourceVersion, so two replicas can never both win. Lease times must be
 * MicroTime (microsecond precision): the API server rejects a plain timestamp.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  durationMs?: number;
  renewEveryMs?: number;
}

const statusOf = (err: unknown) => (err as { code?: number }).code;

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly o: Required<LeaderOptions>;
  private leading = false;
  private stopped = false;
  private lease: V1Lease | undefined;

  constructor(kc: KubeConfig, options: LeaderOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.o = { durationMs: 15_000, renewEveryMs: 5_000, ...options };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica leads. */
  async acquire(): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(this.o.renewEveryMs, 2_000)));
    }
  }

  /** Renews until it fails for longer than the lease lasts; then calls onLost once. */
  keepRenewing(onLost: () => void): void {
    let lastRenew = Date.now();
    const timer = setInterval(() => {
      void this.tryAcquireOrRenew().then((ok) => {
        if (ok) lastRenew = Date.now();
        else if (
          Date.now() - lastRenew > this.o.durationMs - this.o.renewEveryMs ||
          this.lease?.spec?.holderIdentity !== this.o.identity
        ) {
          clearInterval(timer);
          this.leading = false;
          onLost();
        }
      });
    }, this.o.renewEveryMs);
    timer.unref();
  }

  /** Gives the lease up (graceful shutdown), so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading || !this.lease) return;
    this.leading = false;
    const spec = { ...this.lease.spec, holderIdentity: undefined, renewTime: new V1MicroTime(0) };
    await this.api
      .replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: { ...this.lease, spec },
      })
      .catch(() => undefined);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new V1MicroTime();
    const durationSeconds = Math.ceil(this.o.durationMs / 1000);
    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) return false;
      try {
        this.lease = await this.api.createNamespacedLease({
          namespace: this.o.namespace,
          body: {
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: {
              holderIdentity: this.o.identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch {
        return false;
      }
    }
    this.lease = current;
    const spec = current.spec ?? {};
    const mine = spec.holderIdentity === this.o.identity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired =
      !spec.holderIdentity || renewedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < Date.now();
    if (!mine && !expired) return false;
    try {
      this.lease = await this.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: {
          ...current,
          spec: {
            ...spec,
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationSeconds,
            renewTime: now,
            ...(mine ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          },
        },
      });
      return true;
    } catch {
      return false; // 409: someone else wrote first
    }
  }
}
