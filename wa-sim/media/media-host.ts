/**
 * The simulated media host (WhatsApp's mmg.whatsapp.net): HTTPS on loopback with a test CA made
 * at start. Companions upload encrypted media with the auth token `media_conn` gave them
 * (`POST /mms/<type>/<token>?auth=…`) and get back `{url, direct_path}`; anyone downloads by
 * direct path (`GET`, honouring `Range`, as the real host does). Simulated phones use the same
 * store in process. Tests can take the host down, expire an object, or make it ignore `Range`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeTestCertificates, type TestCertificates } from './test-ca.ts';

/** How long a `media_conn` answer is valid (seconds), as Baileys caches it. */
export const MEDIA_CONN_TTL_SECONDS = 300;

export interface MediaHostOptions {
  host: string;
  port?: number;
  /** Largest upload accepted (bytes); larger ones get 413. */
  maxUploadBytes?: number;
}

export interface MediaHostStats {
  uploads: number;
  downloads: number;
  rangedDownloads: number;
  refused: number;
}

export class MediaHost {
  readonly certificates: TestCertificates;
  readonly stats: MediaHostStats = { uploads: 0, downloads: 0, rangedDownloads: 0, refused: 0 };
  /** "host:port", the hostname `media_conn` announces. */
  hostname = '';
  readonly #objects = new Map<string, Buffer>();
  readonly #tokens = new Set<string>();
  readonly #server: Server;
  readonly maxUploadBytes: number;
  #available = true;
  #ignoreRange = false;
  #bytesPerSecond: number | undefined;

  private constructor(certificates: TestCertificates, maxUploadBytes: number) {
    this.certificates = certificates;
    this.maxUploadBytes = maxUploadBytes;
    this.#server = createServer({ cert: certificates.certPem, key: certificates.keyPem }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
    });
  }

  static async start(options: MediaHostOptions): Promise<MediaHost> {
    const host = new MediaHost(
      makeTestCertificates(options.host),
      options.maxUploadBytes ?? 256 * 1024 * 1024,
    );
    await new Promise<void>((resolve, reject) => {
      host.#server.once('error', reject);
      host.#server.listen(options.port ?? 0, options.host, () => resolve());
    });
    const { port } = host.#server.address() as AddressInfo;
    host.hostname = `${options.host}:${port}`;
    return host;
  }

  /** A fresh upload token for one `media_conn` answer. */
  newAuthToken(): string {
    const token = randomBytes(24).toString('base64url');
    this.#tokens.add(token);
    return token;
  }

  /** Stores encrypted media under a new direct path (what an upload does); returns the path. */
  put(encrypted: Buffer, kind = 'document'): string {
    const directPath = `/v/t62.sim-${kind}/${randomBytes(16).toString('hex')}.enc?ccb=11-4`;
    this.#objects.set(pathOf(directPath), encrypted);
    return directPath;
  }

  /** The stored bytes at a direct path (or full URL), if any. */
  get(directPathOrUrl: string): Buffer | undefined {
    return this.#objects.get(pathOf(directPathOrUrl));
  }

  urlOf(directPath: string): string {
    return `https://${this.hostname}${directPath}`;
  }

  /** Forgets an object, as WhatsApp does after a while: downloads then get 404 until it is re-uploaded. */
  expire(directPathOrUrl: string): boolean {
    return this.#objects.delete(pathOf(directPathOrUrl));
  }

  /** While unavailable, every request gets 503. */
  setAvailable(available: boolean): void {
    this.#available = available;
  }

  /** A misbehaving host that answers every ranged GET with the whole object (200). */
  setIgnoreRange(ignore: boolean): void {
    this.#ignoreRange = ignore;
  }

  /** Serves downloads at most this fast (undefined: as fast as it can), so a test can act mid-download. */
  setDownloadRate(bytesPerSecond: number | undefined): void {
    this.#bytesPerSecond = bytesPerSecond;
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#available) {
      this.stats.refused++;
      req.resume();
      res.writeHead(503).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://sim');
    if (req.method === 'POST' && url.pathname.startsWith('/mms/')) return this.#upload(req, res, url);
    if (req.method === 'GET' || req.method === 'HEAD') return this.#download(req, res, url);
    req.resume();
    res.writeHead(405).end();
  }

  async #upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const auth = url.searchParams.get('auth') ?? '';
    if (
      ![...this.#tokens].some(
        (t) => t.length === auth.length && timingSafeEqual(Buffer.from(t), Buffer.from(auth)),
      )
    ) {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad auth"}');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.maxUploadBytes) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    const kind = url.pathname.split('/')[2] ?? 'document';
    const directPath = this.put(Buffer.concat(chunks), kind);
    this.stats.uploads++;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ url: this.urlOf(directPath), direct_path: directPath }));
  }

  #download(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const object = this.#objects.get(url.pathname);
    if (!object) {
      res.writeHead(404).end();
      return;
    }
    this.stats.downloads++;
    const range = this.#ignoreRange ? undefined : parseRange(req.headers.range, object.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${object.length}` }).end();
      return;
    }
    if (range) {
      this.stats.rangedDownloads++;
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-length': String(range.end - range.start + 1),
        'content-range': `bytes ${range.start}-${range.end}/${object.length}`,
        'accept-ranges': 'bytes',
      });
      res.end(req.method === 'HEAD' ? undefined : object.subarray(range.start, range.end + 1));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(object.length),
      'accept-ranges': 'bytes',
    });
    if (req.method === 'HEAD') res.end();
    else if (this.#bytesPerSecond) void this.#trickle(res, object, this.#bytesPerSecond);
    else res.end(object);
  }

  /** Writes `object` in 64 KiB slices paced to `rate`; stops if the client goes away. */
  async #trickle(res: ServerResponse, object: Buffer, rate: number): Promise<void> {
    const slice = 64 * 1024;
    for (let at = 0; at < object.length && !res.destroyed; at += slice) {
      res.write(object.subarray(at, at + slice));
      await new Promise((resolve) => setTimeout(resolve, (slice / rate) * 1000));
    }
    res.end();
  }
}

function pathOf(directPathOrUrl: string): string {
  return new URL(directPathOrUrl, 'https://sim').pathname;
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else is served whole. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
