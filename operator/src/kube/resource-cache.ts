/**
 * A list+watch cache of one kind of object (a "reflector"), in place of client-node's
 * informer, which stops for good on errors other than 410 and timeouts, requests no
 * bookmarks, and (2.0.x) cuts every watch after 30 s of silence.
 *
 * - The watch asks the server to end it after a random 1-2 minutes (`timeoutSeconds`), so a
 *   healthy watch is never silent for longer than that, even on a quiet resource (the API
 *   server sends no bookmarks for a resource whose watch cache saw no event). A watch that
 *   stays silent past `silenceMs` is therefore dead (a half-open connection): it is dropped.
 * - A watch that ends (server timeout, network error, dead connection) is resumed from the
 *   last resourceVersion seen: no list, no events lost, none replayed.
 * - `410 Gone` (the version is too old) is the only reason to list again. A relist compares
 *   with the cache and reports only what changed, including deletions missed meanwhile.
 * - Failures back off exponentially (0.5 s to 30 s); the cache never gives up.
 * - Every `resyncMs` every cached object is handed to `onChange` again (no API call), so a
 *   missed or failed reconcile is retried.
 */
import type { KubeHttp } from './http.ts';

/** What the cache needs of an object. */
export interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface ResourceCacheOptions<T> {
  http: KubeHttp;
  /** Collection path, e.g. /api/v1/pods or /apis/<group>/<version>/namespaces/<ns>/<plural>. */
  path: string;
  list: () => Promise<ListResult<T>>;
  labelSelector?: string;
  /**
   * Every change; `previous` is the version the cache held before it (undefined for an object
   * new to the cache, and for a resync, which hands every object over again).
   */
  onChange: (obj: T, deleted: boolean, previous?: T) => void;
  /** Trims each object before it is stored (default: drops metadata.managedFields). */
  transform?: (obj: T) => T;
  /** For logs: what went wrong and what the cache does about it. */
  onProblem?: (what: string, err?: unknown) => void;
  /** A watch with no byte for this long is dropped and resumed (default 150 s). */
  silenceMs?: number;
  /** The server ends each watch after a random time in this range (default 60-120 s). */
  watchTimeoutSeconds?: [number, number];
  resyncMs?: number;
}

/**
 * managedFields (server-side apply bookkeeping) are often the largest part of an object,
 * and the operator never reads them: not keeping them roughly halves the cache.
 */
export function withoutManagedFields<T extends Named>(obj: T): T {
  const meta = obj.metadata as { managedFields?: unknown } | undefined;
  if (meta?.managedFields !== undefined) delete meta.managedFields;
  return obj;
}

export const keyOf = (o: Named) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Counters, for metrics and tests. */
export interface CacheStats {
  lists: number;
  watches: number;
  /** Watches dropped for silence. */
  silentWatches: number;
  /** 410 Gone answers. */
  expired: number;
  errors: number;
}

const httpStatus = (err: unknown) => (err as { statusCode?: number; code?: number } | null)?.statusCode;

export class ResourceCache<T extends Named> {
  private readonly items = new Map<string, T>();
  private readonly o: Required<Omit<ResourceCacheOptions<T>, 'labelSelector' | 'onProblem'>> &
    ResourceCacheOptions<T>;
  private resourceVersion = '';
  private watchAbort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private generation = 0;
  private stopped = false;
  private ready = false;
  readonly stats: CacheStats = { lists: 0, watches: 0, silentWatches: 0, expired: 0, errors: 0 };

  constructor(options: ResourceCacheOptions<T>) {
    this.o = {
      silenceMs: 150_000,
      watchTimeoutSeconds: [60, 120],
      resyncMs: 300_000,
      transform: withoutManagedFields,
      ...options,
    };
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  values(): T[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }

  /** The first list has succeeded (readiness). */
  synced(): boolean {
    return this.ready;
  }

  /**
   * Lists, retrying (a freshly established CRD answers 429 "storage is (re)initializing"
   * for a moment, and an API server may be restarting), then watches. Rejects only if
   * the first list keeps failing past `timeoutMs`.
   */
  async start(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await this.list();
        break;
      } catch (err) {
        if (this.stopped) return;
        if (Date.now() + delay > deadline) throw err;
        this.o.onProblem?.('first list failed; retrying', err);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    this.resyncTimer = setInterval(() => {
      for (const o of this.items.values()) this.o.onChange(o, false);
    }, this.o.resyncMs);
    this.resyncTimer.unref();
    this.retry(() => this.watch(), 0);
  }

  stop(): void {
    this.stopped = true;
    this.watchAbort?.abort();
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
  }

  /** Lists and replaces the cache, reporting only differences. */
  private async list(): Promise<void> {
    this.stats.lists++;
    const listed = await this.o.list();
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const listedItem of listed.items) {
      const item = this.o.transform(listedItem);
      const key = keyOf(item);
      seen.add(key);
      const before = this.items.get(key);
      this.items.set(key, item);
      if (before?.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.o.onChange(item, false, before);
    }
    for (const [key, item] of this.items) {
      if (!seen.has(key)) {
        this.items.delete(key);
        this.o.onChange(item, true);
      }
    }
    this.resourceVersion = listed.resourceVersion;
    this.ready = true;
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.stats.watches++;
    // Each watch has a generation; anything a superseded watch still delivers is ignored.
    const generation = ++this.generation;
    let ended = false;
    const end = (expired: boolean, err: unknown) => {
      if (ended || generation !== this.generation) return;
      ended = true;
      this.generation++;
      this.watchAbort = undefined;
      if (!this.stopped) this.afterWatch(expired, err);
    };
    const [min, max] = this.o.watchTimeoutSeconds;
    const controller = await this.o.http.watch(
      this.o.path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: min + Math.floor(Math.random() * (max - min + 1)),
        ...(this.o.labelSelector ? { labelSelector: this.o.labelSelector } : {}),
      },
      (type, raw: T & { code?: number; message?: string }) => {
        if (ended || generation !== this.generation) return;
        const obj: T & { code?: number; message?: string } = type === 'ERROR' ? raw : this.o.transform(raw);
        this.failures = 0;
        if (type === 'ERROR') {
          const expired = obj.code === 410;
          end(expired, expired ? undefined : new Error(`watch error ${obj.code}: ${obj.message}`));
          return;
        }
        this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
        if (type === 'BOOKMARK') return;
        const previous = this.items.get(keyOf(obj));
        if (type === 'DELETED') this.items.delete(keyOf(obj));
        else this.items.set(keyOf(obj), obj);
        this.o.onChange(obj, type === 'DELETED', previous);
      },
      (err: unknown) => end(httpStatus(err) === 410, err),
      this.o.silenceMs,
    );
    if (ended || generation !== this.generation) controller.abort();
    else this.watchAbort = controller;
  }

  /** Decides what follows the end of a watch. */
  private afterWatch(expired: boolean, err: unknown): void {
    if (expired) {
      this.stats.expired++;
      this.o.onProblem?.('resourceVersion expired (410 Gone); listing again');
      this.retry(() => this.list().then(() => this.watch()), 0);
    } else if ((err as Error | null)?.name === 'TimeoutError') {
      this.stats.silentWatches++;
      this.o.onProblem?.(`watch silent for ${this.o.silenceMs} ms; resuming it`);
      this.retry(() => this.watch(), 0);
    } else if (err) {
      this.stats.errors++;
      this.failures++;
      this.o.onProblem?.('watch failed; resuming it', err);
      this.retry(() => this.watch(), Math.min(500 * 2 ** (this.failures - 1), 30_000));
    } else {
      this.retry(() => this.watch(), 0); // the server ended it (timeoutSeconds): resume
    }
  }

  private retry(step: () => Promise<void>, delayMs: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      step().catch((err: unknown) => {
        if (this.stopped) return;
        // Anything failing here (the list of a relist, or opening a watch) starts over with a list
        // only if the version expired; otherwise resuming the watch is enough. afterWatch counts
        // the failure and reports it once (counting it here too doubled every back-off step).
        this.afterWatch(httpStatus(err) === 410, err ?? new Error('list or watch failed'));
      });
    }, delayMs);
    this.retryTimer.unref();
  }
}
