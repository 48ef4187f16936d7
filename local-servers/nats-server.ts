/**
 * nats-server with JetStream on loopback: what local mode starts when it is given no
 * --nats-url, and what the test harness starts for every integration run.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

export interface NatsOptions {
  /** Appended to the generated configuration (accounts and users, for example). */
  extraConfig?: string;
  /**
   * JetStream encrypts what it stores (default true): patients' messages never sit in the store
   * files in plaintext. false only to show, in a test, what an unencrypted store would expose.
   */
  encryptAtRest?: boolean;
}

/**
 * Starts nats-server with JetStream under `<workDir>/nats` on free loopback ports. A server
 * started again on the same folder finds its stored streams, and its key.
 */
export async function startNats(
  bin: string,
  workDir: string,
  options: NatsOptions = {},
): Promise<{ process: ManagedProcess; info: NatsInfo }> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const dir = join(workDir, 'nats');
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'nats.conf');
  const cipher = (options.encryptAtRest ?? true) ? ` cipher: chachapoly, key: "${await storeKey(dir)}",` : '';
  await writeFile(
    configFile,
    [
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${monitorPort}"`,
      `max_payload: 1MB`,
      `jetstream { store_dir: "${join(dir, 'jetstream')}",${cipher} max_memory_store: 256MB, max_file_store: 4GB }`,
      options.extraConfig ?? '',
    ].join('\n'),
    { mode: 0o600 },
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

/**
 * The JetStream encryption key of a local server: made once per folder (0600) and reused, so a
 * restarted server can read what it stored. Local mode and tests only: in production the key
 * comes from a Secret (docs/install.md, "NATS").
 */
async function storeKey(dir: string): Promise<string> {
  const file = join(dir, 'jetstream.key');
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim()) return existing.trim();
  const key = randomBytes(32).toString('hex');
  await writeFile(file, key, { mode: 0o600, flag: 'wx' });
  return key;
}
