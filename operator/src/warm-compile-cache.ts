/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with V8's compiled code of every module the
 * operator loads at start-up, without starting it: the image build runs it once, so a start
 * reads the code instead of compiling client-node, the AWS SDK and the rest again (less start-up
 * CPU and resident memory; docs/operator.md, "Measured"). A module missing from this list is
 * simply compiled at start, as without the cache. The worker image does the same
 * (worker/src/warm-compile-cache.ts).
 */
import { flushCompileCache, getCompileCacheDir } from 'node:module';

await Promise.all([
  import('./config.ts'),
  import('./controller/controller.ts'),
  import('./health.ts'),
  import('./kube/connection-reuse.ts'),
  import('./kube/leader-election.ts'),
  import('./metrics.ts'),
]);
flushCompileCache();
const dir = getCompileCacheDir();
if (!dir) {
  console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set (or the cache could not be enabled)');
  process.exit(1);
}
process.stdout.write(`compile cache written to ${dir}\n`);
