import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagedProcess } from '../../../local-servers/managed-process.ts';
import { startNats, type NatsInfo } from '../../../local-servers/nats-server.ts';

// The plain JetStream server is the product's own (local mode starts it too); the harness adds operator mode.
export { startNats, type NatsInfo };

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
  return startNats(bin, workDir, {
    extraConfig: [
      `operator: ${trust.operatorJwt}`,
      `system_account: ${trust.systemAccount}`,
      `resolver: { type: full, dir: ${JSON.stringify(resolverDir)}, allow_delete: false, interval: "2m" }`,
      `resolver_preload: {`,
      ...Object.entries(trust.preload).map(([account, jwt]) => `  ${account}: ${jwt}`),
      `}`,
    ].join('\n'),
  });
}
