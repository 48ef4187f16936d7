/**
 * The end of the operator image's compile-cache step (warm-compile-cache.ts): once the
 * process's start-up modules are loaded, write V8's
 * compiled code to NODE_COMPILE_CACHE, so a container start reads it instead of compiling again.
 * Fails the build when no cache is enabled, since the image would then silently start slower.
 */
import { flushCompileCache, getCompileCacheDir } from 'node:module';

export async function warmCompileCache(loading: Promise<unknown>[]): Promise<void> {
  await Promise.all(loading);
  flushCompileCache();
  const dir = getCompileCacheDir();
  if (!dir) {
    console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set (or the cache could not be enabled)');
    process.exit(1);
  }
  process.stdout.write(`compile cache written to ${dir}\n`);
}
