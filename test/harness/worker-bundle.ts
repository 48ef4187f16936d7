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
