import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, derived from this file's location. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where built server binaries are cached, keyed by name and version, outside the
 * repository so that a fresh clone on the same machine reuses them.
 * Override with WA_SERVERS_CACHE.
 */
export function serversCacheDir(): string {
  if (process.env.WA_SERVERS_CACHE) return resolve(process.env.WA_SERVERS_CACHE);
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'wa-operator', 'servers');
}

/** The committed Go wrapper modules that pin each server's module graph. */
export const goModulesDir = join(repoRoot, 'test', 'servers', 'go');
