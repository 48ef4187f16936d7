/**
 * A TCP proxy in front of a real server, to break connections the way networks do. The code
 * under test is pointed at the proxy; new connections pass unless the proxy is `down()`.
 *
 * - `cut()` resets every open connection (a restarted peer or load balancer);
 * - `freeze()` keeps them open but silently drops whatever they carry from then on (a half-open
 *   connection behind a NAT, or a dead node);
 * - `down()` resets every open connection and refuses new ones until `up()` (an outage);
 * - `hang()` freezes every open connection and accepts new ones that never get an answer until
 *   `up()` (a server that is overloaded or half dead: the client's own timeouts must notice);
 * - `downAfterNextReply()` lets requests through until the server first answers, then drops that
 *   answer and goes down: the request took effect, and its sender only sees the connection break;
 * - `downAtNextWrite(minBytes)` drops the next client→server write of at least `minBytes` (smaller
 *   ones, like keep-alive pings, pass) and goes down: the client wrote it, the server never read it.
 *
 * `bytesToServer` counts what clients sent through it, so a test can see a body on its way.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
}

export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  /** Connections accepted while hanging: held open, never answered, closed at stop(). */
  readonly #hung = new Set<Socket>();
  #down = false;
  #hanging = false;
  #downAtNextReply: (() => void) | undefined;
  #downAtNextWrite: { minBytes: number; done: () => void } | undefined;
  port = 0;
  host = '127.0.0.1';
  bytesToServer = 0;

  private constructor(targetHost: string, targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#down) return client.resetAndDestroy();
      if (this.#hanging) {
        this.#hung.add(client);
        client.on('data', () => undefined); // read and drop, as a stuck server's kernel would
        client.on('close', () => this.#hung.delete(client)).on('error', () => client.destroy());
        return;
      }
      const upstream = connect(targetPort, targetHost);
      const pair: Pair = { client, upstream, frozen: false };
      this.#pairs.add(pair);
      client.on('data', (d: Buffer) => {
        this.bytesToServer += d.length;
        if (this.#downAtNextWrite && d.length >= this.#downAtNextWrite.minBytes) {
          const { done } = this.#downAtNextWrite;
          this.#downAtNextWrite = undefined;
          this.down();
          return done();
        }
        if (!pair.frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (this.#downAtNextReply) {
          const done = this.#downAtNextReply;
          this.#downAtNextReply = undefined;
          this.down();
          return done();
        }
        if (!pair.frozen) client.write(d);
      });
      const close = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  /**
   * A proxy on a free local port in front of `target` (a URL: only its host and port count),
   * listening on loopback, or on `host` (the one-node cluster's bridge address, for its pods).
   */
  static async start(target: string, host = '127.0.0.1'): Promise<TcpProxy> {
    const url = new URL(target);
    const proxy = new TcpProxy(url.hostname, Number(url.port));
    await new Promise<void>((r) => proxy.#server.listen(0, host, () => r()));
    proxy.host = host;
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  /** The proxy as a plain-HTTP URL. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  cut(): void {
    for (const p of this.#pairs) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
  }

  freeze(): void {
    for (const p of this.#pairs) p.frozen = true;
  }

  down(): void {
    this.#down = true;
    this.cut();
  }

  /** Resolves when a reply has been dropped and the proxy is down. */
  downAfterNextReply(): Promise<void> {
    return new Promise((resolve) => (this.#downAtNextReply = resolve));
  }

  /** Resolves when a write of at least `minBytes` has been dropped and the proxy is down. */
  downAtNextWrite(minBytes: number): Promise<void> {
    return new Promise((resolve) => (this.#downAtNextWrite = { minBytes, done: resolve }));
  }

  hang(): void {
    this.#hanging = true;
    this.freeze();
  }

  /** Ends an outage (down or hang). Connections frozen or hung meanwhile stay dead, as they would. */
  up(): void {
    this.#down = false;
    this.#hanging = false;
  }

  async stop(): Promise<void> {
    this.down();
    for (const client of this.#hung) client.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
