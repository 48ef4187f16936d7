/**
 * The operator's HTTP endpoints:
 * - /healthz (liveness): the process answers. A standby that is not leading is healthy.
 * - /readyz (readiness): the leader's caches are synced; a standby is ready too (it is
 *   healthy and waiting; a Deployment rollout must not stall on it).
 * - /metrics: Prometheus.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSources {
  ready: () => boolean;
  registry: () => Registry;
}

export async function startHealthServer(
  port: number,
  s: HealthSources,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (path === '/readyz') {
      const ready = s.ready();
      return void res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready' : 'not ready');
    }
    if (path === '/metrics') {
      const registry = s.registry();
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
