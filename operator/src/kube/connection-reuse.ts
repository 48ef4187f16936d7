/**
 * Connection reuse for @kubernetes/client-node 2.0.x.
 *
 * Its KubeConfig builds a new undici Agent for every request (applySecurityAuthentication
 * → createDispatcher), so every API call opens and TLS-handshakes a new connection, and
 * each of those idle connections lingers until its keep-alive timeout. At a thousand
 * channels that is a thousand handshakes and a lot of memory (see the operator bench).
 * This shares one Agent per distinct TLS setting (server, CA, client certificate), so
 * connections are pooled; a rotated certificate gives a new key and a new Agent.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (
  cluster: { server?: string } | null,
  agentOptions: Record<string, unknown>,
) => unknown;

const SHARED = Symbol('shared dispatchers');

export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher; [SHARED]?: true };
  if (target[SHARED]) return kc;
  target[SHARED] = true;
  const original = target.createDispatcher;
  if (typeof original !== 'function')
    throw new Error('@kubernetes/client-node KubeConfig changed: no createDispatcher to share');
  const agents = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = createHash('sha256')
      .update(JSON.stringify([cluster?.server, agentOptions]))
      .digest('hex');
    if (!agents.has(key)) {
      // Keep only the newest: an older one belongs to a rotated certificate.
      agents.clear();
      agents.set(key, original.call(kc, cluster, agentOptions));
    }
    return agents.get(key);
  };
  return kc;
}
