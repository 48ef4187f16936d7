/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with V8's compiled code of every module the
 * worker loads at start-up, without starting a worker: the image build runs it once, so each
 * start reads the code instead of parsing and compiling Baileys, the AWS SDK and the rest again
 * (about two thirds of the worker's start-up CPU before; docs/worker.md, "Performance").
 * A module missing from this list is simply compiled at start, as without the cache.
 */
import { flushCompileCache, getCompileCacheDir } from 'node:module';

await Promise.all([
  import('./config.ts'),
  import('./events/nats.ts'),
  import('./commands/send-log.ts'),
  import('./compose-worker.ts'),
  import('./events/status-publisher.ts'),
  import('./ops/health.ts'),
  import('./ops/http.ts'),
  import('./ops/log.ts'),
  import('./ops/metrics.ts'),
  import('./session/trust-root.ts'),
  import('./channel-hold.ts'),
  import('./auth-store-setup.ts'),
]);
flushCompileCache();
const dir = getCompileCacheDir();
if (!dir) {
  console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set (or the cache could not be enabled)');
  process.exit(1);
}
process.stdout.write(`compile cache written to ${dir}\n`);
