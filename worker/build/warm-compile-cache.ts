/**
 * Fills Node's compile cache (NODE_COMPILE_CACHE) with V8's compiled code of the worker bundle,
 * so that each start reads the code instead of parsing and compiling the bundle again (about a
 * third of a start without it; docs/worker.md, "Performance"). The image build runs it once, as
 * the user the worker runs as (Node keys the cache by user).
 *
 * How: it runs the bundle once with no configuration. The bundle loads (and so compiles) every
 * module, finds the configuration missing and exits with 2; Node writes the cache as the process
 * exits. Anything else (another exit code, no cache written) fails the build, since the image
 * would then start slower without saying so.
 *
 *   node worker/build/warm-compile-cache.ts [bundle]      (default dist/worker-bundle/main.mjs)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const bundle = resolve(process.argv[2] ?? 'dist/worker-bundle/main.mjs');
const cacheDir = process.env.NODE_COMPILE_CACHE;
if (!cacheDir) {
  console.error('warm-compile-cache: NODE_COMPILE_CACHE is not set');
  process.exit(1);
}
// Only the cache's location is passed on: with no configuration the worker stops before it
// touches anything outside the process.
const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', bundle], {
  env: { NODE_COMPILE_CACHE: cacheDir },
  encoding: 'utf8',
});
const configRejected = run.status === 2 && /worker configuration is invalid/.test(run.stderr);
const written = readdirSync(cacheDir, { recursive: true }).length > 0;
if (!configRejected || !written) {
  console.error(
    `warm-compile-cache: expected the bundle to load and stop at the configuration check (exit 2) ` +
      `and a cache in ${cacheDir}; got exit ${run.status}, cache ${written ? 'written' : 'empty'}\n${run.stderr}`,
  );
  process.exit(1);
}
process.stdout.write(`compile cache of ${bundle} written to ${cacheDir}\n`);
