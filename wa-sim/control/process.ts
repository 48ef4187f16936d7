/**
 * Starts wa-sim/main.ts as a child process and hands back its endpoints and a control
 * client. For tests and demos that want the simulator out of their own process (so that, for
 * example, Baileys' process-wide trust setting and the simulator never share a heap).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { SimulatorClient } from './client.ts';

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

export interface SimulatorProcess {
  url: string;
  controlUrl: string;
  rootPublicKey: Buffer;
  /** "host:port" of the HTTPS media host. */
  mediaHost: string;
  client: SimulatorClient;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/** `args` are main.ts flags, e.g. ['--user', '15550001111:Clinic', '--trust-root-file', file]. */
export async function spawnSimulator(
  args: string[] = [],
  nodePath = process.execPath,
): Promise<SimulatorProcess> {
  const child = spawn(nodePath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const exitedEarly = once(child, 'exit').then(([code]) => {
    throw new Error(`simulator exited (${String(code)}) before it was ready: ${stderr}`);
  });
  // Once the simulator is ready, a later exit is not an error of this call.
  exitedEarly.catch(() => undefined);
  const [line] = (await Promise.race([once(lines, 'line'), exitedEarly])) as [string];
  lines.close();
  const ready = JSON.parse(line) as {
    url: string;
    controlUrl: string;
    rootPublicKey: string;
    mediaHost: string;
  };
  return {
    url: ready.url,
    controlUrl: ready.controlUrl,
    rootPublicKey: Buffer.from(ready.rootPublicKey, 'hex'),
    mediaHost: ready.mediaHost,
    client: new SimulatorClient(ready.controlUrl),
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      await gone;
    },
  };
}
