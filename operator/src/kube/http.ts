/**
 * The operator's own Kubernetes HTTP client: JSON requests and watches over node:http(s),
 * on a KubeConnection (connection.ts). It replaces @kubernetes/client-node at run time, whose
 * generated API classes cost some 70 MiB of memory just by being loaded (docs/operator.md).
 * node:https rather than undici: Node loads it anyway, so it costs nothing more (undici from
 * npm costs some 6 MiB more in the operator's process), and client-node's fallback hands over
 * node:https options, proxy agents included.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConnection } from './connection.ts';
import { LineSplitter } from './ndjson.ts';

/**
 * A failed API call: `code` is the HTTP status and `body` the response text (a Status object
 * as JSON, usually), where client.ts's apiStatus/apiMessage read them. `statusCode` is the
 * same number, where resource-cache.ts reads it.
 */
export class KubeApiError extends Error {
  readonly code: number;
  readonly statusCode: number;
  readonly body: string;

  constructor(method: string, path: string, code: number, body: string) {
    super(`${method} ${path}: HTTP ${code}: ${statusMessage(body) ?? http.STATUS_CODES[code] ?? 'error'}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.statusCode = code;
    this.body = body;
  }
}

/** The `message` of a Kubernetes Status object, if the body is one. */
export function statusMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { message?: unknown } | null;
    return typeof parsed?.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Serialized as JSON (a server-side apply body is YAML, of which JSON is a subset). */
  body?: unknown;
  /** Default application/json. */
  contentType?: string;
}

export type WatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T };

/** What a watch's `done` gets when no byte came for `silenceMs` (resource-cache.ts reads the name). */
export class WatchSilentError extends Error {
  constructor(ms: number) {
    super(`watch silent for ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** A request that gets no byte for this long fails (a watch has its own limit). */
const REQUEST_SILENCE_MS = 60_000;
const USER_AGENT = 'whatsapp-operator';

export class KubeHttp {
  readonly connection: KubeConnection;

  constructor(connection: KubeConnection) {
    this.connection = connection;
  }

  /** One JSON request; resolves to the parsed response, rejects with KubeApiError for a non-2xx answer. */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, o.query, o, REQUEST_SILENCE_MS);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeApiError(method, path, status, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * A watch (`?watch=1`): `onEvent` for every event, then `done` once: null when the server
   * ended it (timeoutSeconds), else the error (a KubeApiError for a non-200 answer, a
   * WatchSilentError when no byte came for `silenceMs`). Resolves once the request is sent,
   * with what stops it (after which `done` may still be called, with the abort error).
   */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (type: WatchEvent<T>['type'], object: T) => void,
    done: (err: unknown) => void,
    silenceMs: number,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      controller.abort();
      done(err);
    };
    let timer: NodeJS.Timeout | undefined;
    const silence = new WatchSilentError(silenceMs);
    const resetTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(silence), silenceMs);
      timer.unref();
    };
    resetTimer(); // also bounds connecting and waiting for the answer's headers
    try {
      const res = await this.send('GET', path, { ...query, watch: 1 }, { signal: controller.signal });
      if (res.statusCode !== 200) {
        const text = await readAll(res);
        throw new KubeApiError('GET', path, res.statusCode ?? 0, text);
      }
      const lines = new LineSplitter();
      const deliver = (line: string) => {
        // A line that is not JSON is skipped, and so is a handler's exception, as client-node's
        // Watch does: one bad event must not end the watch (nor, thrown from a stream handler,
        // the process).
        try {
          const event = JSON.parse(line) as WatchEvent<T>;
          onEvent(event.type, event.object);
        } catch {
          /* skipped */
        }
      };
      res.on('data', (chunk: Buffer) => {
        if (finished) return;
        resetTimer();
        for (const line of lines.push(chunk)) {
          if (finished) return;
          deliver(line);
        }
      });
      res.on('end', () => {
        const last = lines.end();
        if (last !== undefined && !finished) deliver(last);
        finish(null);
      });
      res.on('error', finish);
      res.on('close', () => finish(res.complete ? null : new Error('watch connection closed')));
    } catch (err) {
      finish(err);
    }
    return controller;
  }

  private async send(
    method: string,
    path: string,
    query: Query | undefined,
    o: { body?: unknown; contentType?: string; signal?: AbortSignal },
    silenceMs?: number,
  ): Promise<http.IncomingMessage> {
    const { headers, agent } = await this.connection.setup();
    const url = new URL(path, this.connection.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const transport = url.protocol === 'http:' ? http : https;
    return await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, {
        method,
        agent,
        headers: {
          ...headers,
          accept: 'application/json',
          'user-agent': USER_AGENT,
          ...(body
            ? { 'content-type': o.contentType ?? 'application/json', 'content-length': body.length }
            : {}),
        },
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (silenceMs !== undefined)
        req.setTimeout(silenceMs, () =>
          req.destroy(new Error(`${method} ${path}: no answer for ${silenceMs} ms`)),
        );
      req.on('response', resolve);
      req.on('error', reject);
      req.end(body);
    });
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}
