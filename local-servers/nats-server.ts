/**
 * nats-server with JetStream on loopback: what local mode starts when it is given no
 * --nats-url, and what the test harness starts for every integration run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';
import { ManagedProcess, httpOk } from './managed-process.ts';
import type { ServerBinary } from './server-binary.ts';

/** The pinned nats-server, built from local-servers/go/nats-server. */
export const NATS_SERVER: ServerBinary = {
  name: 'nats-server',
  version: 'v2.11.17',
  moduleDir: fileURLToPath(new URL('./go/nats-server', import.meta.url)),
  goPackage: 'github.com/nats-io/nats-server/v2',
  ldflags: [],
};

export interface NatsInfo {
  url: string;
  monitorUrl: string;
  configFile: string;
}

/**
 * Starts nats-server with JetStream under `<workDir>/nats` on free loopback ports.
 * `extraConfig` is appended to the generated configuration (accounts and users, for example).
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
