/**
 * Liveness, readiness and metrics over HTTP for the kubelet and Prometheus.
 *
 * Liveness never depends on WhatsApp: a pod restarted because WhatsApp is unreachable comes
 * back to the same unreachable WhatsApp, and restart loops are what cause 440 storms. It fails
 * only when the worker process itself is wedged (`live()` false). Readiness is "the session is
 * connected and its dependencies work".
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthSource {
  live(): { ok: boolean; detail: Record<string, unknown> };
  ready(): { ok: boolean; detail: Record<string, unknown> };
}

export function startHttpServer(
  port: number,
  health: HealthSource,
  registry: Registry,
  host = '0.0.0.0',
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method !== 'GET') return reply(405, { error: 'method not allowed' });
    switch (path) {
      case '/livez': {
        const r = health.live();
        return reply(r.ok ? 200 : 503, r);
      }
      case '/readyz': {
        const r = health.ready();
        return reply(r.ok ? 200 : 503, r);
      }
      case '/metrics':
        registry.metrics().then(
          (text) => reply(200, text, registry.contentType),
          (err: unknown) => reply(500, { error: String(err) }),
        );
        return;
      default:
        return reply(404, { error: 'not found' });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
