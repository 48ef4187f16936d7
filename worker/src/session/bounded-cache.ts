/**
 * Baileys' CacheStore over lru-cache, bounded by count and age. Used for the retry counters,
 * which must outlive a single socket (so a crash-looping peer cannot retry forever) and must
 * not grow without bound.
 */
import type { CacheStore } from '@whiskeysockets/baileys';
import { LRUCache } from 'lru-cache';

export function boundedCacheStore(max: number, ttlMs: number): CacheStore {
  // lru-cache refuses undefined values; Baileys keeps numbers here.
  const cache = new LRUCache<string, NonNullable<unknown>>({ max, ttl: ttlMs });
  return {
    get: <T>(key: string) => cache.get(key) as T | undefined,
    set: <T>(key: string, value: T) => {
      if (value === undefined || value === null) cache.delete(key);
      else cache.set(key, value);
    },
    del: (key: string) => cache.delete(key),
    flushAll: () => cache.clear(),
  };
}
