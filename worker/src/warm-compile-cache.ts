/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with V8's compiled code of every module the
 * worker loads at start-up, without starting a worker: the image build runs it once, so each
 * start reads the code instead of parsing and compiling Baileys, the AWS SDK and the rest again
 * (about two thirds of the worker's start-up CPU before; docs/worker.md, "Performance").
 * A module missing from this list is simply compiled at start, as without the cache.
 */
import { warmCompileCache } from '../../contract/compile-cache.ts';

await warmCompileCache([
  import('./config.ts'),
  import('./events/nats.ts'),
  import('./commands/send-log.ts'),
  import('./compose-worker.ts'),
  import('./events/status-publisher.ts'),
  import('./ops/health.ts'),
  import('./ops/http.ts'),
  import('./ops/log.ts'),
  import('./ops/metrics.ts'),
  import('./ops/startup-timeline.ts'),
  import('./session/trust-root.ts'),
  import('./channel-hold.ts'),
  import('./auth-store-setup.ts'),
]);
