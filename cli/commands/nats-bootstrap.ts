/**
 * `wa nats bootstrap`: creates the NATS trust chain of an installation once (docs/install.md,
 * "NATS"), with the same code the tests run nats-server with (`bootstrapNatsTrust`). Seeds go
 * into files only (0600, in a folder of 0700); what is printed is public: the JWTs and account
 * keys nats-server needs, and the commands that turn the files into the operator's Secrets.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bootstrapNatsTrust, type NatsTrust } from '../../operator/src/nats/credentials-bootstrap.ts';
import { writeIssuerDir } from '../../operator/src/nats/issuer-dir.ts';
import { CliError } from '../connection.ts';

export interface BootstrapOptions {
  /** Folder to create; it must not exist or be empty (a trust chain is never overwritten). */
  out: string;
  /** The NATS operator's name in its JWT. */
  name: string;
  /** Where the operator's Secrets go (the release namespace). */
  namespace: string;
  issuerSecret: string;
  credsSecret: string;
  /** Where nats-server runs, for the JetStream key's Secret. */
  natsNamespace: string;
  /** nats-server's folders for pushed account JWTs and for JetStream. */
  resolverDir: string;
  storeDir: string;
}

/** What the command writes under `out`. */
export const BOOTSTRAP_FILES = {
  issuerDir: 'issuer',
  platformCreds: 'platform.creds',
  serverConfig: 'nats-server.conf',
  jetstreamKey: 'jetstream.key',
} as const;

/**
 * The value of nats-server's `JS_STORE_KEY`: 32 random bytes, hex, in double quotes. nats-server
 * parses an environment variable's value as configuration, so an unquoted hex key that starts
 * like a number (`17896e40…`, about one in fifteen) stops it at start; quoted, it is a string.
 */
export function jetstreamKeyValue(): string {
  return `"${randomBytes(32).toString('hex')}"`;
}

/** The lines around the printed configuration, so that it can be cut out of the output as is. */
export const CONFIG_BEGIN = '# --- whatsapp-operator NATS trust: begin ---';
export const CONFIG_END = '# --- whatsapp-operator NATS trust: end ---';

/**
 * The nats-server configuration for the trust chain: operator mode with a `full` resolver (the
 * operator pushes each clinic's account when it first sees the clinic), preloaded with the
 * system and platform accounts, and JetStream encrypted at rest with a key from the environment.
 */
export function natsServerConfig(trust: NatsTrust, dirs: { resolverDir: string; storeDir: string }): string {
  return [
    CONFIG_BEGIN,
    `operator: ${trust.operatorJwt}`,
    `system_account: ${trust.systemAccount.publicKey}`,
    `resolver: { type: full, dir: ${JSON.stringify(dirs.resolverDir)}, allow_delete: false, interval: "2m" }`,
    'resolver_preload: {',
    `  ${trust.systemAccount.publicKey}: ${trust.systemAccount.jwt}`,
    `  ${trust.platformAccount.publicKey}: ${trust.platformAccount.jwt}`,
    '}',
    `jetstream { store_dir: ${JSON.stringify(dirs.storeDir)}, cipher: chachapoly, key: $JS_STORE_KEY }`,
    CONFIG_END,
  ].join('\n');
}

async function assertEmptyOrMissing(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (entries.length > 0)
    throw new CliError(
      `${dir} is not empty: a trust chain is created once and never overwritten (its clinic master key ` +
        'derives every clinic account). Choose a new folder.',
      2,
    );
}

/** Creates the trust chain, writes its files, and returns the text to print (no seed in it). */
export async function bootstrapToFolder(options: BootstrapOptions): Promise<string> {
  const out = resolve(options.out);
  await assertEmptyOrMissing(out);
  await mkdir(out, { recursive: true, mode: 0o700 });
  const trust = await bootstrapNatsTrust(options.name);
  const issuerDir = join(out, BOOTSTRAP_FILES.issuerDir);
  await writeIssuerDir(issuerDir, trust.issuerKeys, trust.systemCreds);
  const platformCreds = join(out, BOOTSTRAP_FILES.platformCreds);
  await writeFile(platformCreds, trust.platformCreds, { mode: 0o600, flag: 'wx' });
  const jetstreamKey = join(out, BOOTSTRAP_FILES.jetstreamKey);
  await writeFile(jetstreamKey, jetstreamKeyValue(), { mode: 0o600, flag: 'wx' });
  const config = natsServerConfig(trust, options);
  const configFile = join(out, BOOTSTRAP_FILES.serverConfig);
  await writeFile(configFile, `${config}\n`, { mode: 0o644, flag: 'wx' });
  const ns = options.namespace;
  return [
    `NATS trust chain "${options.name}" written to ${out} (the seeds are in these files only, mode 0600):`,
    `  ${issuerDir}/  the operator's issuer keys: signing keys, clinic master key, system user`,
    `  ${platformCreds}  the operator's own NATS user (platform account)`,
    `  ${jetstreamKey}  nats-server's JetStream encryption key (JS_STORE_KEY)`,
    '',
    `1. Add this to nats-server's configuration (also in ${configFile}):`,
    '',
    config,
    '',
    '   JS_STORE_KEY encrypts everything JetStream stores. Give it to nats-server from a Secret as an',
    '   environment variable (for example envFrom: secretRef), never from its own volume:',
    '',
    `kubectl -n ${options.natsNamespace} create secret generic nats-jetstream-key --from-file=JS_STORE_KEY=${jetstreamKey}`,
    '',
    `2. Create the operator's Secrets in its namespace (${ns}):`,
    '',
    `kubectl -n ${ns} create secret generic ${options.issuerSecret} --from-file=${issuerDir}`,
    `kubectl -n ${ns} create secret generic ${options.credsSecret} --from-file=creds=${platformCreds}`,
    '',
    `   The chart's defaults use these names (nats.issuer.secretName, nats.credentialsSecret.name);`,
    '   so does deploy/overlays/production.',
    '',
    `3. Keep ${out} offline (a vault), then delete it here. Never run this again for the same`,
    '   installation: a new trust chain invalidates every credential issued under the old one.',
  ].join('\n');
}
