/**
 * A TCP proxy in front of the API server, to break connections the way networks do:
 * `cut()` resets every open connection; `freeze()` keeps them open but silently drops
 * whatever they carry from then on (a half-open connection behind a NAT or a dead
 * node). New connections always pass.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  port = 0;

  private constructor(targetHost: string, targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      const pair = { client, upstream, frozen: false };
      this.pairs.add(pair);
      client.on('data', (d) => pair.frozen || upstream.write(d));
      upstream.on('data', (d) => pair.frozen || client.write(d));
      const close = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  static async start(target: string): Promise<TcpProxy> {
    const url = new URL(target);
    const proxy = new TcpProxy(url.hostname, Number(url.port));
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', () => r()));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  get open(): number {
    return this.pairs.size;
  }

  cut(): void {
    for (const p of this.pairs) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
  }

  freeze(): void {
    for (const p of this.pairs) p.frozen = true;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
