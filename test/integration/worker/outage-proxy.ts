/**
 * A TCP proxy that can make a server unreachable for a while: `down()` resets every open
 * connection and refuses new ones until `up()`. The worker under test is pointed at the proxy.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class OutageProxy {
  readonly #server: Server;
  readonly #open = new Set<Socket>();
  #down = false;
  port = 0;

  private constructor(host: string, port: number) {
    this.#server = createServer((client) => {
      if (this.#down) return client.resetAndDestroy();
      const upstream = connect(port, host);
      this.#open.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        this.#open.delete(client);
        this.#open.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  static async start(target: string): Promise<OutageProxy> {
    const url = new URL(target);
    const proxy = new OutageProxy(url.hostname, Number(url.port));
    await new Promise<void>((r) => proxy.#server.listen(0, '127.0.0.1', () => r()));
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  down(): void {
    this.#down = true;
    for (const s of this.#open) s.resetAndDestroy();
    this.#open.clear();
  }

  up(): void {
    this.#down = false;
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
