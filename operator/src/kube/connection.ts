/**
 * The operator's connection to the API server: its URL, and per request the headers and the
 * (pooled, keep-alive) agent to use. Loaded as kubectl and client-node do it: $KUBECONFIG, else
 * ~/.kube/config, else the in-cluster service account.
 *
 * Two kinds:
 * - DirectConnection: what connection-settings.ts understands (bearer token, client certificate,
 *   CA, insecure-skip-tls-verify). Files are read again at most once a minute, so a rotated
 *   service-account token (bound tokens expire) or certificate is picked up, as client-go does;
 *   a changed CA or certificate gets a new agent.
 * - ClientNodeConnection: any other kubeconfig (exec plugins, auth providers such as OIDC, basic
 *   auth, impersonation, proxy-url, several files in $KUBECONFIG). @kubernetes/client-node is
 *   loaded then, and only then (a dynamic import: it costs some 70 MiB of memory just by being
 *   loaded, docs/operator.md), and gives the headers and TLS options for each request.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  inClusterSettings,
  kubeconfigSettings,
  SERVICE_ACCOUNT_DIR,
  type ConnectionSettings,
  type Source,
} from './connection-settings.ts';

export interface RequestSetup {
  headers: Record<string, string>;
  agent: http.Agent;
}

export interface KubeConnection {
  /** The API server, e.g. https://10.0.0.1:443. */
  readonly server: URL;
  /** What each request needs: authentication headers and the agent (TLS and connection pool). */
  setup(): Promise<RequestSetup>;
  /** Closes pooled connections (tests, shutdown). */
  close(): void;
}

/** Files are read again after this long (client-go's cached token source uses a minute too). */
const REREAD_MS = 60_000;

/**
 * Keep-alive pooling: every request reuses an open connection. The TCP keep-alive probe after
 * 30 s matches client-go (cloud load balancers drop idle connections after 60 s or so).
 */
function agentFor(server: URL, tls: https.AgentOptions): http.Agent {
  return server.protocol === 'http:'
    ? new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 })
    : new https.Agent({ keepAlive: true, keepAliveMsecs: 30_000, ...tls });
}

export class DirectConnection implements KubeConnection {
  readonly server: URL;
  private readonly settings: ConnectionSettings;
  private readonly read: (file: string) => Promise<Buffer>;
  private readonly now: () => number;
  private loaded: { at: number; token?: string; tlsKey: string; agent: http.Agent } | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    settings: ConnectionSettings,
    deps: { readFile?: (file: string) => Promise<Buffer>; now?: () => number } = {},
  ) {
    this.settings = settings;
    this.server = new URL(settings.server);
    this.read = deps.readFile ?? ((file) => readFile(file));
    this.now = deps.now ?? Date.now;
  }

  async setup(): Promise<RequestSetup> {
    if (!this.loaded || this.now() - this.loaded.at >= REREAD_MS) {
      // One reload at a time; requests meanwhile wait for it.
      this.loading ??= this.reload().finally(() => (this.loading = undefined));
      await this.loading;
    }
    const { token, agent } = this.loaded!;
    return {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      agent,
    };
  }

  close(): void {
    this.loaded?.agent.destroy();
  }

  private async reload(): Promise<void> {
    const s = this.settings;
    const get = (src: Source | undefined) =>
      src === undefined ? undefined : 'data' in src ? Promise.resolve(src.data) : this.read(src.file);
    const [ca, cert, key, token] = await Promise.all([get(s.ca), get(s.cert), get(s.key), get(s.token)]);
    const tls: https.AgentOptions = {
      rejectUnauthorized: s.verifyTls,
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      ...(s.servername ? { servername: s.servername } : {}),
    };
    const tlsKey = [ca, cert, key].map((b) => b?.toString('base64') ?? '').join('/');
    let agent = this.loaded?.agent;
    if (!agent || this.loaded!.tlsKey !== tlsKey) {
      agent?.destroy(); // a rotated CA or certificate: connections made with the old one go
      agent = agentFor(this.server, tls);
    }
    this.loaded = { at: this.now(), tlsKey, agent, token: token?.toString('utf8').trim() || undefined };
  }
}

/** Any other authentication: client-node's KubeConfig computes it for every request. */
export class ClientNodeConnection implements KubeConnection {
  readonly server: URL;
  private readonly kc: KubeConfig;
  private readonly agents = new Map<string, http.Agent>();

  constructor(kc: KubeConfig) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig: no current cluster');
    this.server = new URL(cluster.server);
  }

  async setup(): Promise<RequestSetup> {
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts); // runs exec plugins / refreshes OIDC tokens as needed
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    // A proxy (proxy-url) needs client-node's own agent; otherwise a pooled one per TLS setting.
    if (this.kc.getCurrentCluster()?.proxyUrl && opts.agent instanceof http.Agent)
      return { headers, agent: opts.agent };
    const tls: https.AgentOptions = {
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    };
    const key = JSON.stringify(
      [tls.ca, tls.cert, tls.key, tls.rejectUnauthorized, tls.servername].map(String),
    );
    let agent = this.agents.get(key);
    if (!agent) {
      for (const old of this.agents.values()) old.destroy(); // a rotated certificate
      this.agents.clear();
      agent = agentFor(this.server, tls);
      this.agents.set(key, agent);
    }
    return { headers, agent };
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
  }
}

export interface LoadOptions {
  /** A kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster). */
  kubeconfig?: string;
  /** Replaces the kubeconfig's server (tests: a proxy in front of the API server). */
  server?: string;
  env?: Record<string, string | undefined>;
  /** Called when client-node has to be loaded, with the reason (for the log). */
  onFallback?: (reason: string) => void;
}

/** Loads the connection in the order kubectl and client-node's loadFromDefault use. */
export async function loadKubeConnection(o: LoadOptions = {}): Promise<KubeConnection> {
  const env = o.env ?? process.env;
  const files = o.kubeconfig ? [o.kubeconfig] : (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length === 0) {
    const home = env.HOME || homedir();
    const file = join(home, '.kube', 'config');
    if (home && existsSync(file)) files.push(file);
  }
  if (files.length > 1) return fallback(`KUBECONFIG lists ${files.length} files`, o);
  if (files.length === 1) {
    const { parse } = await import('yaml'); // only a kubeconfig file needs a YAML parser
    const result = kubeconfigSettings(parse(readFileSync(files[0]!, 'utf8')), dirname(files[0]!));
    if ('fallback' in result) return fallback(result.fallback, o);
    return new DirectConnection(o.server ? { ...result.settings, server: o.server } : result.settings);
  }
  if (existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) return new DirectConnection(inClusterSettings(env));
  throw new Error('no Kubernetes configuration: set KUBECONFIG, or run in a pod with a service account');
}

async function fallback(reason: string, o: LoadOptions): Promise<KubeConnection> {
  o.onFallback?.(reason);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  if (o.server) kc.clusters = kc.clusters.map((c) => ({ ...c, server: o.server! }));
  return new ClientNodeConnection(kc);
}
