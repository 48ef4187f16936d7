/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with V8's compiled code of every module the
 * operator loads at start-up (and of the S3 client, which it loads at its first erasure), without
 * starting it: the image build runs it once, so a start reads the code instead of compiling the operator, the AWS SDK and the rest again (less start-up
 * CPU and resident memory; docs/operator.md, "Measured"). A module missing from this list is
 * simply compiled at start, as without the cache. The worker image fills its cache from its
 * bundle instead (worker/build/warm-compile-cache.ts).
 */
import { warmCompileCache } from './compile-cache.ts';

await warmCompileCache([
  import('./config.ts'),
  import('./controller/controller.ts'),
  import('./health.ts'),
  import('./kube/connection.ts'),
  import('./kube/leader-election.ts'),
  import('./metrics.ts'),
  // Loaded at the first erasure, not at start (storage/state-eraser.ts): compiled here all the same.
  import('@aws-sdk/client-s3'),
]);
