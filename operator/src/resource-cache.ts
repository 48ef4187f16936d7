/**
 * A list+watch cache of one kind of object. client-node's informer stops for good on
 * some errors and does not notice a silent watch; this one relists on every watch
 * error or end, on 410 Gone, and when a watch stays silent past `silenceMs` (bookmarks
 * are requested, so a healthy watch is never silent for long).
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';

/** What the cache needs of an object. */
export interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface ResourceCacheOptions<T> {
  kc: KubeConfig;
  /** Watch path, e.g. /api/v1/pods or /apis/<group>/<version>/<plural>. */
  path: string;
  list: () => Promise<ListResult<T>>;
  labelSelector?: string;
  onChange: (obj: T, deleted: boolean) => void;
  onError?: (err: unknown) => void;
  silenceMs?: number;
  resyncMs?: number;
}

export const keyOf = (o: Named) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class ResourceCache<T extends Named> {
  private readonly items = new Map<string, T>();
  private readonly o: ResourceCacheOptions<T>;
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private lastEvent = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** How many times the cache relisted (for tests and metrics). */
  relists = 0;
  private ready = false;

  constructor(options: ResourceCacheOptions<T>) {
    this.o = { silenceMs: 90_000, resyncMs: 300_000, ...options };
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  values(): T[] {
    return [...this.items.values()];
  }

  synced(): boolean {
    return this.ready;
  }

  /**
   * Lists (retrying: a freshly established CRD answers 429 "storage is (re)initializing"
   * for a moment, and an API server may be restarting), then watches.
   */
  async start(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await this.relist();
        break;
      } catch (err) {
        if (Date.now() + delay > deadline) throw err;
        this.o.onError?.(err);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    this.timers.push(
      setInterval(
        () => {
          if (this.abort && Date.now() - this.lastEvent > this.o.silenceMs!)
            void this.restart('silent watch');
        },
        Math.min(this.o.silenceMs!, 10_000),
      ),
      setInterval(() => this.items.forEach((o) => this.o.onChange(o, false)), this.o.resyncMs),
    );
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    for (const t of this.timers) clearInterval(t);
  }

  /** Drops the watch and lists again (also what a test calls to simulate a dead watch). */
  async restart(why: string): Promise<void> {
    this.o.onError?.(new Error(`relisting: ${why}`));
    this.abort?.abort();
    this.abort = undefined;
    await this.relist().catch((err) => {
      this.o.onError?.(err);
      setTimeout(() => void this.restart('relist failed'), 1_000).unref();
    });
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.relists++;
    const listed = await this.o.list();
    const seen = new Set<string>();
    for (const item of listed.items) {
      const key = keyOf(item);
      seen.add(key);
      const before = this.items.get(key);
      this.items.set(key, item);
      if (before?.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.o.onChange(item, false);
    }
    for (const [key, item] of this.items) {
      if (!seen.has(key)) {
        this.items.delete(key);
        this.o.onChange(item, true);
      }
    }
    this.resourceVersion = listed.resourceVersion;
    this.ready = true;
    await this.watch();
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.lastEvent = Date.now();
    const controller = await new Watch(this.o.kc).watch(
      this.o.path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        ...(this.o.labelSelector ? { labelSelector: this.o.labelSelector } : {}),
      },
      (type, obj: T & { code?: number }) => {
        this.lastEvent = Date.now();
        if (type === 'BOOKMARK') {
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
        } else if (type === 'ERROR') {
          void this.restart(`watch error ${obj.code ?? ''}`);
        } else {
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          if (type === 'DELETED') this.items.delete(keyOf(obj));
          else this.items.set(keyOf(obj), obj);
          this.o.onChange(obj, type === 'DELETED');
        }
      },
      (err) => {
        if (this.stopped || this.abort !== controller) return;
        this.abort = undefined;
        // Any end of the watch (timeout, network, 410): list again rather than trust an old version.
        setTimeout(() => void this.restart(err ? String(err) : 'watch ended'), err ? 500 : 0).unref();
      },
    );
    this.abort = controller;
  }
}
