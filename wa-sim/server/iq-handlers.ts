/**
 * Answers to the queries a client sends. Every iq gets an answer: an unanswered query stalls
 * the client for defaultQueryTimeoutMs and then resolves empty, which hides bugs as delays.
 * Unknown queries get an empty result and are recorded, so a test can notice them.
 */
import type { Directory } from '../accounts/directory.ts';
import { child, firstChild, iqError, iqResult, type BinaryNode } from '../protocol/nodes.ts';
import { MEDIA_CONN_TTL_SECONDS, type MediaHost } from '../media/media-host.ts';
import type { ClientSession } from './client-session.ts';
import { countAnswer, keyFetchAnswer, parseSignedPreKey, storeUpload } from './prekeys.ts';
import { answerUsync } from './usync.ts';

export interface IqHost {
  directory: Directory;
  media(): MediaHost;
  /** `passive active`: the client is ready for queued stanzas. */
  activated(session: ClientSession): void;
  /** Pairing-code stages from a registering companion. */
  linkCode(session: ClientSession, iq: BinaryNode): BinaryNode;
  /** The client unlinked itself (sock.logout()). */
  loggedOut(session: ClientSession): void;
  preKeysUploaded(session: ClientSession): void;
  preKeyTaken(jid: string): void;
  unhandled(description: string): void;
  /** `w:g2`: group metadata. */
  groupQuery(session: ClientSession, iq: BinaryNode): BinaryNode;
  /** Whether this query is over the rate limit (rate-limits.ts): then it gets 429 rate-overlimit. */
  overLimit(session: ClientSession): boolean;
}

const PRIVACY_DEFAULTS: Record<string, string> = {
  readreceipts: 'all',
  last: 'all',
  online: 'all',
  profile: 'all',
  status: 'all',
  groupadd: 'all',
  calladd: 'all',
  messages: 'all',
};

/** Queries that need a logged-in device. */
function encryptIq(host: IqHost, session: ClientSession, iq: BinaryNode): BinaryNode {
  const id = iq.attrs.id ?? '';
  const companion = session.companion;
  if (!companion) return iqError(id, 401, 'not-authorized');
  const first = firstChild(iq)?.tag;
  if (first === 'count') return countAnswer(id, companion);
  if (first === 'digest') return iqResult(id, [{ tag: 'digest', attrs: {} }]);
  if (first === 'key') return keyFetchAnswer(host.directory, iq, (jid) => host.preKeyTaken(jid));
  if (first === 'rotate') {
    const skey = child(child(iq, 'rotate'), 'skey');
    const signedPreKey = skey && parseSignedPreKey(skey);
    if (!signedPreKey) return iqError(id, 400, 'bad-request');
    companion.signedPreKey = signedPreKey;
    return iqResult(id);
  }
  if (child(iq, 'list') || child(iq, 'skey')) {
    const problem = storeUpload(companion, iq);
    if (problem) return iqError(id, 406, problem);
    host.preKeysUploaded(session);
    return iqResult(id);
  }
  host.unhandled(`encrypt/${first}`);
  return iqResult(id);
}

function mdIq(host: IqHost, session: ClientSession, iq: BinaryNode): BinaryNode {
  const id = iq.attrs.id ?? '';
  const first = firstChild(iq)?.tag;
  if (first === 'link_code_companion_reg') return host.linkCode(session, iq);
  if (first === 'remove-companion-device') {
    host.loggedOut(session);
    return iqResult(id);
  }
  host.unhandled(`md/${first}`);
  return iqResult(id);
}

/** The answer to one client iq (never undefined). */
export function answerIq(host: IqHost, session: ClientSession, iq: BinaryNode): BinaryNode {
  const id = iq.attrs.id ?? '';
  const xmlns = iq.attrs.xmlns ?? '';
  switch (xmlns) {
    case 'w:p':
      return iqResult(id);
    case 'w:m':
      return mediaConnAnswer(host, session, iq);
    case 'md':
      return mdIq(host, session, iq);
    case 'encrypt':
      return encryptIq(host, session, iq);
    case 'passive':
      if (firstChild(iq)?.tag === 'active') host.activated(session);
      return iqResult(id);
    case 'usync':
      if (host.overLimit(session)) return iqError(id, 429, 'rate-overlimit');
      return answerUsync(host.directory, iq);
    case 'w:g2':
      if (iq.attrs.type === 'get' && child(iq, 'query')) return host.groupQuery(session, iq);
      host.unhandled(`w:g2/${firstChild(iq)?.tag ?? ''}`);
      return iqResult(id);
    case 'abt':
      return iqResult(id, [{ tag: 'props', attrs: { protocol: '1', hash: 'wa-sim-1' } }]);
    case 'blocklist':
      return iqResult(id, [{ tag: 'list', attrs: {} }]);
    case 'privacy':
      if (iq.attrs.type === 'get') {
        const categories = Object.entries(PRIVACY_DEFAULTS).map(([name, value]) => ({
          tag: 'category',
          attrs: { name, value },
        }));
        return iqResult(id, [{ tag: 'privacy', attrs: {}, content: categories }]);
      }
      return iqResult(id);
    case 'urn:xmpp:whatsapp:dirty':
    case 'w:stats':
      return iqResult(id);
    default:
      host.unhandled(`${xmlns || '(no xmlns)'}/${firstChild(iq)?.tag ?? ''}`);
      return iqResult(id);
  }
}

/**
 * `media_conn`: where to upload (each `host`'s hostname, here "127.0.0.1:<port>"), the upload
 * auth token and how long the answer may be cached. Always a `media_conn` child: Baileys caches
 * an answer without one as a failure, and every later media send on that socket fails.
 */
function mediaConnAnswer(host: IqHost, session: ClientSession, iq: BinaryNode): BinaryNode {
  const id = iq.attrs.id ?? '';
  if (!session.companion) return iqError(id, 401, 'not-authorized');
  const media = host.media();
  return iqResult(id, [
    {
      tag: 'media_conn',
      attrs: {
        auth: media.newAuthToken(),
        ttl: String(MEDIA_CONN_TTL_SECONDS),
        auth_ttl: '21600',
        max_buckets: '12',
      },
      content: [
        {
          tag: 'host',
          attrs: { hostname: media.hostname, maxContentLengthBytes: String(media.maxUploadBytes) },
        },
      ],
    },
  ]);
}
