/**
 * One of the product's images run the way the kubelet runs its pods' containers under the
 * chart's security context: user 65532, a read-only root filesystem, every capability dropped,
 * no privilege escalation, the engine's default seccomp profile (RuntimeDefault). It shares
 * the host's network, so it reaches the test servers on loopback as a pod reaches its
 * services. The same interface as a process started by spawnNode, so tests read its output
 * and exit code alike.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NodeChild } from '../node-process.ts';
import { DOCKER } from './docker.ts';

const run = promisify(execFile);

export interface ContainerOptions {
  image: string;
  env: Record<string, string>;
  /** Read-only bind mounts: host path → path in the container (a pod's Secret or ConfigMap volumes). */
  mounts?: Record<string, string>;
  args?: string[];
  /** Where the env file goes (mode 0600: it may hold credentials). */
  workDir: string;
}

export interface Container extends NodeChild {
  name: string;
}

export async function runContainer(options: ContainerOptions): Promise<Container> {
  const name = `wa-test-${randomBytes(5).toString('hex')}`;
  const envFile = join(options.workDir, `${name}.env`);
  await writeFile(
    envFile,
    Object.entries(options.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  const mounts = Object.entries(options.mounts ?? {}).flatMap(([host, inside]) => [
    '--mount',
    `type=bind,source=${host},target=${inside},readonly`,
  ]);
  const child = spawn(
    DOCKER,
    [
      'run',
      '--rm',
      '--name',
      name,
      '--user',
      '65532:65532',
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--network',
      'host',
      '--env-file',
      envFile,
      ...mounts,
      options.image,
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    logs += d.toString();
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    logs += d.toString();
    stderr += d.toString();
  });
  // `docker run` without -d exits with the container's exit code once its output is all read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    name,
    child,
    logs: () => logs,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    // The signal goes to the container's process, as the kubelet sends it (not to the CLI).
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null)
        void run(DOCKER, ['kill', '--signal', signal, name]).catch(() => undefined);
    },
  };
}
