/**
 * The worker as its image runs it: one bundled file (worker/build/bundle.ts), built from the
 * sources once per test run by the global set-up, so every test that starts a worker process
 * tests what ships. (Local mode and the demo run the sources themselves: docs/local-mode.md.)
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

/** The bundle, relative to the repository root (spawnNode's script argument). */
export const WORKER_ENTRY = 'dist/worker-bundle/main.mjs';

/** Builds the bundle from the current sources (esbuild: about a second). */
export function buildWorkerBundle(): void {
  const run = spawnSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'worker/build/bundle.ts')],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`bundling the worker failed:\n${run.stdout}${run.stderr}`);
}

/**
 * What the worker image's build does (worker/Dockerfile), for benches that start workers as the
 * image would: the bundle from the current sources, then its compile cache filled in `cacheDir`
 * (pass the same folder as the workers' NODE_COMPILE_CACHE).
 */
export function buildWorkerBundleWithCompileCache(cacheDir: string): void {
  buildWorkerBundle();
  const run = spawnSync(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      join(repoRoot, 'worker/build/warm-compile-cache.ts'),
      WORKER_ENTRY,
    ],
    { cwd: repoRoot, env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: cacheDir }, encoding: 'utf8' },
  );
  if (run.status !== 0)
    throw new Error(`filling the worker's compile cache failed:\n${run.stdout}${run.stderr}`);
}
