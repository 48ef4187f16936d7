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

/** Decentralised (JWT) auth for startNatsOperatorMode: what docs/security.md, "Setting up NATS", configures. */
export interface NatsOperatorModeTrust {
  operatorJwt: string;
  systemAccount: string;
  /** Account public key → account JWT, loaded at start (the system and platform accounts). */
  preload: Record<string, string>;
}

/**
 * nats-server in operator mode: it trusts `operatorJwt` and resolves accounts with a `full`
 * resolver (account JWTs pushed at run time by a system-account user are kept in the run's
 * folder), preloaded with `preload`. Used by the isolation tests; the default
 * configuration above stays as it is for every other test.
 */
export async function startNatsOperatorMode(
  bin: string,
  workDir: string,
  trust: NatsOperatorModeTrust,
): Promise<{ process: ManagedProcess; info: NatsInfo }> {
  const resolverDir = join(workDir, 'nats', 'accounts');
  await mkdir(resolverDir, { recursive: true });
  return startNats(
    bin,
    workDir,
    [
      `operator: ${trust.operatorJwt}`,
      `system_account: ${trust.systemAccount}`,
      `resolver: { type: full, dir: ${JSON.stringify(resolverDir)}, allow_delete: false, interval: "2m" }`,
      `resolver_preload: {`,
      ...Object.entries(trust.preload).map(([account, jwt]) => `  ${account}: ${jwt}`),
      `}`,
    ].join('\n'),
  );
}
