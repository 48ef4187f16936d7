/**
 * Server-initiated endings of a connection, and the DisconnectReason (lastDisconnect status
 * code) each one surfaces as in Baileys 7 (getErrorCodeFromStreamError, CB:failure, …).
 */
import type { BinaryNode } from '../protocol/nodes.ts';
import type { Connection } from './connection.ts';

export interface EndingSpec {
  /** `lastDisconnect.error.output.statusCode` Baileys reports. */
  statusCode: number;
  /** What the server does. */
  describe: string;
  /** The last node sent before closing, when there is one. */
  node?: BinaryNode;
  how: 'node-then-close' | 'terminate' | 'silence';
}

const streamError = (attrs: Record<string, string>, content?: BinaryNode[]): BinaryNode =>
  content ? { tag: 'stream:error', attrs, content } : { tag: 'stream:error', attrs };

export const ENDINGS = {
  /** The device was unlinked from the phone: later logins of it fail with 401 too. */
  'logged-out': {
    statusCode: 401,
    describe: 'stream:error code=401 + conflict device_removed; the device is removed',
    node: streamError({ code: '401' }, [{ tag: 'conflict', attrs: { type: 'device_removed' } }]),
    how: 'node-then-close',
  },
  /** Another connection of the same device took over. */
  replaced: {
    statusCode: 440,
    describe: 'stream:error with conflict type=replaced',
    node: streamError({}, [{ tag: 'conflict', attrs: { type: 'replaced' } }]),
    how: 'node-then-close',
  },
  'restart-required': {
    statusCode: 515,
    describe: 'stream:error code=515',
    node: streamError({ code: '515' }),
    how: 'node-then-close',
  },
  unavailable: {
    statusCode: 503,
    describe: 'stream:error code=503',
    node: streamError({ code: '503' }),
    how: 'node-then-close',
  },
  'bad-session': {
    statusCode: 500,
    describe: 'stream:error without a code',
    node: streamError({}),
    how: 'node-then-close',
  },
  'multidevice-mismatch': {
    statusCode: 411,
    describe: 'ib downgrade_webclient',
    node: {
      tag: 'ib',
      attrs: { from: 's.whatsapp.net' },
      content: [{ tag: 'downgrade_webclient', attrs: {} }],
    },
    how: 'node-then-close',
  },
  'stream-end': {
    statusCode: 428,
    describe: 'xmlstreamend',
    node: { tag: 'xmlstreamend', attrs: {} },
    how: 'node-then-close',
  },
  /** The TCP connection drops without a close frame. */
  dropped: { statusCode: 428, describe: 'socket terminated without a close frame', how: 'terminate' },
  /** The server goes quiet (no pongs): the client's keep-alive gives up. */
  silence: { statusCode: 408, describe: 'no frames at all, pings unanswered', how: 'silence' },
} as const satisfies Record<string, EndingSpec>;

export type EndingName = keyof typeof ENDINGS;

export function isEndingName(name: string): name is EndingName {
  return Object.hasOwn(ENDINGS, name);
}

export function applyEnding(conn: Connection, name: EndingName): void {
  const spec: EndingSpec = ENDINGS[name];
  if (spec.how === 'terminate') conn.terminate();
  else if (spec.how === 'silence') conn.silence();
  else conn.endWith(spec.node!);
}

/** `<failure reason=…>` instead of `success`: a refused login (401 logged out, 403 forbidden, …). */
export function loginFailure(code: number): BinaryNode {
  return { tag: 'failure', attrs: { reason: String(code), location: 'sim' } };
}
