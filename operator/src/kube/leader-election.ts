/**
 * Leader election with a coordination.k8s.io/v1 Lease, as Kubernetes' own controllers
 * do it:
 * - the holder renews every `renewEveryMs`; if no renewal succeeds for `renewDeadlineMs`
 *   it stops leading (and the process exits: another replica may be leading already);
 * - a candidate takes the lease only when its record (holder + renewTime) has not changed
 *   for the lease duration *as measured on the candidate's own clock* since it first saw
 *   that record, so clock skew between replicas cannot make a live lease look expired;
 * - every write is conditional on the Lease's resourceVersion, so two replicas can never
 *   both win a race;
 * - lease times are MicroTime (microsecond precision): the API server rejects a plain
 *   timestamp, and no leader would ever be elected.
 */
import { apiStatus } from './client.ts';
import type { KubeHttp } from './http.ts';

/** The fields of a coordination.k8s.io/v1 Lease the election reads and writes. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** A MicroTime: RFC 3339 with six fractional digits (the API server rejects fewer). */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The Leases of a namespace: read, create, replace (the only calls the election makes). */
class LeaseApi {
  private readonly http: KubeHttp;
  private readonly collection: string;

  constructor(http: KubeHttp, namespace: string) {
    this.http = http;
    this.collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  }

  read(name: string): Promise<Lease> {
    return this.http.request<Lease>('GET', `${this.collection}/${encodeURIComponent(name)}`);
  }

  create(lease: Lease): Promise<Lease> {
    return this.http.request<Lease>('POST', this.collection, {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
    });
  }

  /** Conditional on lease.metadata.resourceVersion (409 if another replica wrote first). */
  replace(name: string, lease: Lease): Promise<Lease> {
    return this.http.request<Lease>('PUT', `${this.collection}/${encodeURIComponent(name)}`, {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
    });
  }
}

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  durationMs: number;
  /** Default: a third of the duration. */
  renewEveryMs?: number;
  /** Default: two thirds of the duration. */
  renewDeadlineMs?: number;
  onProblem?: (what: string, err?: unknown) => void;
}

export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly o: Required<Omit<LeaderOptions, 'onProblem'>> & LeaderOptions;
  private leading = false;
  private stopped = false;
  private lease: Lease | undefined;
  /** The last record seen and when (local clock) it was first seen. */
  private observed: { record: string; at: number } | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(http: KubeHttp, options: LeaderOptions) {
    this.api = new LeaseApi(http, options.namespace);
    this.o = {
      renewEveryMs: Math.max(500, Math.floor(options.durationMs / 3)),
      renewDeadlineMs: Math.floor((options.durationMs * 2) / 3),
      ...options,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica leads (or never, if stop() is called first). */
  async acquire(): Promise<boolean> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        return true;
      }
      await new Promise((r) => setTimeout(r, Math.min(this.o.renewEveryMs, 2_000)));
    }
    return false;
  }

  /** Renews until no renewal succeeds for renewDeadlineMs, or another replica holds the lease; then calls onLost once. */
  keepRenewing(onLost: () => void): void {
    let lastRenew = Date.now();
    const tick = async () => {
      if (this.stopped) return;
      const ok = await this.tryAcquireOrRenew();
      if (this.stopped) return;
      if (ok) lastRenew = Date.now();
      const takenOver = !ok && this.lease?.spec?.holderIdentity !== this.o.identity;
      if (takenOver || Date.now() - lastRenew > this.o.renewDeadlineMs) {
        this.leading = false;
        onLost();
        return;
      }
      this.renewTimer = setTimeout(() => void tick(), this.o.renewEveryMs);
    };
    this.renewTimer = setTimeout(() => void tick(), this.o.renewEveryMs);
  }

  /** Gives the lease up (graceful shutdown), so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    if (!this.leading || !this.lease) return;
    this.leading = false;
    await this.api
      .replace(this.o.name, {
        ...this.lease,
        spec: {
          ...this.lease.spec,
          holderIdentity: undefined,
          leaseDurationSeconds: 1,
          renewTime: microTime(),
        },
      })
      .catch((err: unknown) => this.o.onProblem?.('could not release the leader lease', err));
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const durationSeconds = Math.ceil(this.o.durationMs / 1000);
    let current: Lease;
    try {
      current = await this.api.read(this.o.name);
    } catch (err) {
      if (apiStatus(err) !== 404) {
        this.o.onProblem?.('cannot read the leader lease', err);
        return false;
      }
      const now = microTime();
      try {
        this.lease = await this.api.create({
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (createErr) {
        if (apiStatus(createErr) !== 409) this.o.onProblem?.('cannot create the leader lease', createErr);
        return false;
      }
    }
    this.lease = current;
    const spec = current.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}@${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const mine = spec.holderIdentity === this.o.identity;
    const expired =
      !spec.holderIdentity ||
      this.observed.at + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < Date.now();
    if (!mine && !expired) return false;
    const now = microTime();
    try {
      this.lease = await this.api.replace(this.o.name, {
        ...current,
        spec: {
          ...spec,
          holderIdentity: this.o.identity,
          leaseDurationSeconds: durationSeconds,
          renewTime: now,
          ...(mine ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
        },
      });
      return true;
    } catch (err) {
      if (apiStatus(err) !== 409) this.o.onProblem?.('cannot write the leader lease', err);
      return false; // 409: another replica wrote first
    }
  }
}
