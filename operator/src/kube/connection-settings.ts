/**
 * Where the API server is and how to authenticate to it, from a kubeconfig document or the
 * in-cluster service account: pure functions (no file is read here; connection.ts reads them).
 *
 * Only what the operator's own HTTP client does itself is turned into settings: a server URL,
 * a CA, a bearer token (inline or a file), a client certificate and key (inline `*-data` or
 * file paths), `insecure-skip-tls-verify` and `tls-server-name`. Anything else (exec plugins,
 * auth providers such as OIDC, basic auth, impersonation, a proxy) is answered with
 * `{ fallback }`: connection.ts then loads @kubernetes/client-node's KubeConfig for it.
 */
import { isAbsolute, join } from 'node:path';

/** A file to read (and read again when it may have rotated), or data given inline. */
export type Source = { file: string } | { data: Buffer };

export interface ConnectionSettings {
  /** https://host:port (no trailing slash). */
  server: string;
  ca?: Source;
  cert?: Source;
  key?: Source;
  /** A bearer token: inline (`data`) or a file read again as it rotates. */
  token?: Source;
  /** false only with `insecure-skip-tls-verify: true`. */
  verifyTls: boolean;
  /** TLS SNI / certificate name, if not the server's host. */
  servername?: string;
}

export type SettingsOrFallback = { settings: ConnectionSettings } | { fallback: string };

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster settings, as client-go and client-node build them (port 80/8080/8001 means http). */
export function inClusterSettings(
  env: Record<string, string | undefined>,
  dir = SERVICE_ACCOUNT_DIR,
): ConnectionSettings {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new Error('in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT');
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const hostPart = host.includes(':') ? `[${host}]` : host; // a raw IPv6 address
  return {
    server: `${scheme}://${hostPart}:${port}`,
    ca: { file: join(dir, 'ca.crt') },
    token: { file: join(dir, 'token') },
    verifyTls: true,
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function named(list: unknown, name: string | undefined, key: string): Obj | undefined {
  if (!Array.isArray(list) || !name) return undefined;
  const entry = list.map(obj).find((e) => e?.name === name);
  return entry ? obj(entry[key]) : undefined;
}

/** `*-data` (base64) wins over a path, as in kubectl; a relative path is relative to the kubeconfig's folder. */
function source(entry: Obj, field: string, dir: string): Source | undefined {
  const data = str(entry[`${field}-data`]);
  if (data) return { data: Buffer.from(data, 'base64') };
  const file = str(entry[field]);
  if (file) return { file: isAbsolute(file) ? file : join(dir, file) };
  return undefined;
}

/**
 * The current context's settings from a parsed kubeconfig (`dir`: the file's folder), or why
 * the operator's client cannot do it alone.
 */
export function kubeconfigSettings(doc: unknown, dir: string): SettingsOrFallback {
  const config = obj(doc);
  if (!config) throw new Error('kubeconfig: not a YAML mapping');
  const contextName = str(config['current-context']);
  const context = named(config.contexts, contextName, 'context');
  if (!context) throw new Error(`kubeconfig: current-context "${contextName ?? ''}" not found in contexts`);
  const cluster = named(config.clusters, str(context.cluster), 'cluster');
  if (!cluster) throw new Error(`kubeconfig: cluster "${String(context.cluster)}" not found in clusters`);
  const user = named(config.users, str(context.user), 'user') ?? {};
  const server = str(cluster.server)?.replace(/\/$/, '');
  if (!server) throw new Error(`kubeconfig: cluster "${String(context.cluster)}" has no server`);
  const verifyTls = cluster['insecure-skip-tls-verify'] !== true;
  if (server.startsWith('http:') && verifyTls)
    throw new Error('kubeconfig: an http:// server needs insecure-skip-tls-verify: true (as in client-node)');

  const unsupported = [
    ['proxy-url', cluster['proxy-url']],
    ['exec', user.exec],
    ['auth-provider', user['auth-provider']],
    ['username', user.username],
    ['as', user.as],
    ['as-groups', user['as-groups']],
  ].find(([, v]) => v !== undefined && v !== null);
  if (unsupported) return { fallback: `kubeconfig uses ${String(unsupported[0])}` };

  const token = str(user.token)
    ? { data: Buffer.from(String(user.token)) }
    : str(user.tokenFile) || str(user['token-file'])
      ? { file: resolvePath(String(user.tokenFile ?? user['token-file']), dir) }
      : undefined;
  const cert = source(user, 'client-certificate', dir);
  const key = source(user, 'client-key', dir);
  if (Boolean(cert) !== Boolean(key))
    throw new Error(
      'kubeconfig: a client certificate needs its key (client-key or client-key-data), and the other way round',
    );
  const ca = source(cluster, 'certificate-authority', dir);
  const servername = str(cluster['tls-server-name']);
  return {
    settings: {
      server,
      verifyTls,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert, key } : {}),
      ...(token ? { token } : {}),
      ...(servername ? { servername } : {}),
    },
  };
}

const resolvePath = (file: string, dir: string) => (isAbsolute(file) ? file : join(dir, file));
