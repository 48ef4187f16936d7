import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, derived from this file's location. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The committed Go wrapper modules that pin each test server's module graph (nats-server's is in local-servers/go). */
export const goModulesDir = join(repoRoot, 'test', 'servers', 'go');
