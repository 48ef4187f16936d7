/**
 * /healthz: the process answers. /readyz: the caches are synced (a standby that is not
 * leading is ready too: it is healthy, just waiting). /metrics: Prometheus.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export function startOperatorHttp(
  port: number,
  ready: () => boolean,
  registry: () => Registry | undefined,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200).end('ok');
    if (path === '/readyz')
      return void res.writeHead(ready() ? 200 : 503).end(ready() ? 'ready' : 'not ready');
    if (path === '/metrics') {
      const r = registry();
      if (!r) return void res.writeHead(200, { 'content-type': 'text/plain' }).end('');
      void r.metrics().then((body) => res.writeHead(200, { 'content-type': r.contentType }).end(body));
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(port, () => resolve(server)));
}
