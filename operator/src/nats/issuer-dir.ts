/**
 * The issuer folder: the files of the operator's issuer Secret (mounted at
 * `WA_NATS_ISSUER_DIR`). Written once at installation by `wa nats bootstrap` (and by the tests),
 * read by the operator at start. Its own module so the CLI can write it without loading the
 * operator's Kubernetes code.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NatsCredentialIssuer, type IssuerKeys } from './credentials-issuer.ts';

/** Where each issuer key lives in the issuer folder (the mounted Secret's keys). */
export const ISSUER_FILES = {
  operatorSigningSeed: 'operator-signing.nk',
  platformAccount: 'platform-account.pub',
  platformSigningSeed: 'platform-signing.nk',
  clinicMasterSeed: 'clinic-master.key',
  systemCreds: 'system.creds',
} as const;

/** Writes the folder `loadIssuerDir` reads (0600 files): what goes into the issuer Secret. */
export async function writeIssuerDir(dir: string, keys: IssuerKeys, systemCreds: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, data: string | Uint8Array) =>
    writeFile(join(dir, name), data, { mode: 0o600 });
  await write(ISSUER_FILES.operatorSigningSeed, keys.operatorSigningSeed);
  await write(ISSUER_FILES.platformAccount, keys.platformAccount);
  await write(ISSUER_FILES.platformSigningSeed, keys.platformSigningSeed);
  await write(ISSUER_FILES.clinicMasterSeed, keys.clinicMasterSeed);
  await write(ISSUER_FILES.systemCreds, systemCreds);
}

/**
 * The issuer keys from a folder (a mounted Secret): `operator-signing.nk`, `platform-account.pub`,
 * `platform-signing.nk`, `clinic-master.key` (≥ 32 random bytes) and `system.creds`.
 */
export async function loadIssuerDir(
  dir: string,
): Promise<{ issuer: NatsCredentialIssuer; systemCreds: string }> {
  const read = (name: string) => readFile(join(dir, name), 'utf8').then((s) => s.trim());
  const issuer = new NatsCredentialIssuer({
    operatorSigningSeed: await read(ISSUER_FILES.operatorSigningSeed),
    platformAccount: await read(ISSUER_FILES.platformAccount),
    platformSigningSeed: await read(ISSUER_FILES.platformSigningSeed),
    clinicMasterSeed: new Uint8Array(await readFile(join(dir, ISSUER_FILES.clinicMasterSeed))),
  });
  // Not trimmed: the creds parser needs the newline after the seed's END line.
  return { issuer, systemCreds: await readFile(join(dir, ISSUER_FILES.systemCreds), 'utf8') };
}
