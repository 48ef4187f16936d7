import { publishStack, startStack, type RunningStack } from './stack.ts';
import { buildWorkerBundle } from './worker-bundle.ts';

declare global {
  var __waStack: RunningStack | undefined;
}

/** Starts every real server once for the integration run (building missing binaries first). */
export default async function setup(): Promise<void> {
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[servers] ${line}\n`);
  // Worker processes in tests run the bundle the image runs, built from the current sources.
  buildWorkerBundle();
  const running = await startStack(log);
  globalThis.__waStack = running;
  await publishStack(running.stack);
  log(
    `nats, minio, local-kms, etcd, kube-apiserver and kube-controller-manager up in ${Date.now() - started} ms (${running.stack.workDir})`,
  );
}
