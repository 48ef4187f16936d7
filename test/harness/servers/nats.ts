import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, httpOk } from '../process.ts';
import { freePort } from '../ports.ts';

export interface NatsInfo {
  url: string;
  monitorUrl: string;
  configFile: string;
}

/**
 * nats-server with JetStream on loopback. `extraConfig` is appended to the generated
 * configuration (accounts and users for the isolation tests, for example).
 */
export async function startNats(
  bin: string,
  workDir: string,
  extraConfig = '',
): Promise<{ process: ManagedProcess; info: NatsInfo }> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const dir = join(workDir, 'nats');
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'nats.conf');
  await writeFile(
    configFile,
    [
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${monitorPort}"`,
      `max_payload: 1MB`,
      `jetstream { store_dir: "${join(dir, 'jetstream')}", max_memory_store: 256MB, max_file_store: 4GB }`,
      extraConfig,
    ].join('\n'),
  );
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  const process = await ManagedProcess.start({
    name: 'nats-server',
    command: bin,
    args: ['-c', configFile],
    logFile: join(dir, 'nats.log'),
    ready: () => httpOk(`${monitorUrl}/healthz?js-enabled-only=true`),
  });
  return { process, info: { url: `nats://127.0.0.1:${port}`, monitorUrl, configFile } };
}
