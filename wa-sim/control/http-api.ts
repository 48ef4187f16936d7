/**
 * The simulator's control API: JSON over HTTP on loopback, so another process (a worker test,
 * the demo, a person with curl) can drive the simulated users and read what happened.
 * The routes are listed in wa-sim/README.md; errors come back as `{ "error": "…" }`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { proto } from '@whiskeysockets/baileys';
import type { MediaKind, MediaToSend } from '../media/media-message.ts';
import type { ReceiptPolicy, ReceivedMessage } from '../messaging/records.ts';
import type { ClientVersionPolicy } from '../server/client-versions.ts';
import type { RateLimitPolicy } from '../server/rate-limits.ts';
import { ENDINGS, isEndingName } from '../server/endings.ts';
import type { Simulator, SimUser } from '../simulator.ts';

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Body = Record<string, unknown>;
type Handler = (params: string[], body: Body, query: URLSearchParams) => Promise<unknown> | unknown;

/** Room for a phone's media sent through `POST /users/:pn/media` (base64, so ~24 MB of file). */
const MAX_BODY = 32 << 20;

function userInfo(user: SimUser) {
  return {
    pn: user.pn,
    lid: user.lid,
    jid: user.jid,
    lidJid: user.lidJid,
    name: user.name,
    devices: user.devices(),
  };
}

/** Received messages without the raw protobuf object (its JSON form is large and unstable). */
/** What a non-media message does to another one (reaction, edit, revoke) or whom it quotes and mentions. */
export interface RemoteAction {
  reaction?: { messageId: string; emoji: string };
  edit?: { messageId: string; text: string };
  revoke?: { messageId: string };
  quoted?: string;
  mentions?: string[];
}

function actionOf(m: ReceivedMessage['message']): RemoteAction | undefined {
  const protocol = m.protocolMessage;
  const context = m.extendedTextMessage?.contextInfo;
  const action: RemoteAction = {
    ...(m.reactionMessage
      ? { reaction: { messageId: m.reactionMessage.key?.id ?? '', emoji: m.reactionMessage.text ?? '' } }
      : {}),
    ...(protocol?.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT
      ? {
          edit: {
            messageId: protocol.key?.id ?? '',
            text:
              protocol.editedMessage?.conversation ?? protocol.editedMessage?.extendedTextMessage?.text ?? '',
          },
        }
      : {}),
    ...(protocol?.type === proto.Message.ProtocolMessage.Type.REVOKE
      ? { revoke: { messageId: protocol.key?.id ?? '' } }
      : {}),
    ...(context?.stanzaId ? { quoted: context.stanzaId } : {}),
    ...(context?.mentionedJid?.length ? { mentions: [...context.mentionedJid] } : {}),
  };
  return Object.keys(action).length ? action : undefined;
}

function receivedInfo(message: ReceivedMessage) {
  const { message: raw, media, ...fields } = message;
  const action = actionOf(raw);
  const rest = action ? { ...fields, action } : fields;
  if (!media) return rest;
  // The bytes stay in the simulator; a client checks them by hash.
  const { data, ...about } = media;
  return {
    ...rest,
    media: {
      ...about,
      ...(data ? { size: data.length, sha256: createHash('sha256').update(data).digest('hex') } : {}),
    },
  };
}

const MEDIA_KINDS = ['image', 'video', 'audio', 'document', 'sticker'];

/** `{kind, data (base64), mimetype, fileName?, caption?, ptt?, seconds?}` → what a phone sends. */
function mediaToSend(body: Body): MediaToSend {
  const kind = text(body, 'kind');
  if (!MEDIA_KINDS.includes(kind)) throw new HttpError(400, `"kind" is one of ${MEDIA_KINDS.join(', ')}`);
  const data = Buffer.from(text(body, 'data'), 'base64');
  const media: MediaToSend = { kind: kind as MediaKind, data, mimetype: text(body, 'mimetype') };
  const fileName = optionalText(body, 'fileName');
  const caption = optionalText(body, 'caption');
  if (fileName) media.fileName = fileName;
  if (caption) media.caption = caption;
  if (body.ptt === true) media.ptt = true;
  if (body.seconds !== undefined) {
    if (!Number.isInteger(body.seconds) || (body.seconds as number) < 0)
      throw new HttpError(400, '"seconds" is a non-negative integer');
    media.seconds = body.seconds as number;
  }
  return media;
}

function text(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !value) throw new HttpError(400, `"${field}" must be a non-empty string`);
  return value;
}

function optionalText(body: Body, field: string): string | undefined {
  return body[field] === undefined ? undefined : text(body, field);
}

/** `{accepted?, refused?}`: each a list of "primary.secondary.tertiary" versions. */
function versionPolicy(body: Body): ClientVersionPolicy {
  const list = (field: 'accepted' | 'refused'): string[] | undefined => {
    const value = body[field];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v)))
      throw new HttpError(400, `"${field}" must be a list of versions such as "2.3000.1023223821"`);
    return value as string[];
  };
  const accepted = list('accepted');
  const refused = list('refused');
  return { ...(accepted ? { accepted } : {}), ...(refused ? { refused } : {}) };
}

async function readBody(req: IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  if (!size) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Body;
  } catch {
    throw new HttpError(400, 'body must be a JSON object');
  }
}

function routes(sim: Simulator): Array<[method: string, pattern: RegExp, handler: Handler]> {
  const existing = (pn: string): SimUser => {
    const user = sim.users().find((u) => u.pn === pn);
    if (!user) throw new HttpError(404, `no user ${pn}`);
    return user;
  };
  // Operations the protocol refuses (unknown QR, wrong code, unknown device) are 422s.
  const attempt = async <T>(work: () => Promise<T> | T): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      throw err instanceof HttpError
        ? err
        : new HttpError(422, err instanceof Error ? err.message : String(err));
    }
  };
  return [
    ['GET', /^\/health$/, () => ({ ok: true })],
    [
      'GET',
      /^\/info$/,
      () => ({
        url: sim.url,
        rootPublicKey: sim.rootPublicKey.toString('hex'),
        mediaHost: sim.media.hostname,
        endings: Object.fromEntries(Object.entries(ENDINGS).map(([name, spec]) => [name, spec.statusCode])),
      }),
    ],
    ['GET', /^\/users$/, () => sim.users().map(userInfo)],
    [
      'POST',
      /^\/users$/,
      (_p, body) => attempt(() => userInfo(sim.user(text(body, 'pn'), optionalText(body, 'name')))),
    ],
    ['GET', /^\/users\/(\d+)$/, ([pn]) => userInfo(existing(pn!))],
    [
      'POST',
      /^\/users\/(\d+)\/scan-qr$/,
      ([pn], body) => attempt(async () => ({ device: await existing(pn!).scanQr(text(body, 'qr')) })),
    ],
    [
      'POST',
      /^\/users\/(\d+)\/pairing-code$/,
      ([pn], body) =>
        attempt(async () => ({ device: await existing(pn!).enterPairingCode(text(body, 'code')) })),
    ],
    [
      'POST',
      /^\/users\/(\d+)\/messages$/,
      ([pn], body) =>
        attempt(() => {
          const addressing = optionalText(body, 'addressing');
          if (addressing !== undefined && addressing !== 'pn' && addressing !== 'lid') {
            throw new HttpError(400, '"addressing" is pn or lid');
          }
          const id = optionalText(body, 'id');
          return existing(pn!).sendText(text(body, 'to'), text(body, 'text'), {
            ...(addressing ? { addressing } : {}),
            ...(id ? { id } : {}),
          });
        }),
    ],
    [
      'POST',
      /^\/users\/(\d+)\/media$/,
      ([pn], body) => attempt(() => existing(pn!).sendMedia(text(body, 'to'), mediaToSend(body))),
    ],
    [
      'PUT',
      /^\/media\/available$/,
      (_p, body) => {
        if (typeof body.available !== 'boolean') throw new HttpError(400, '"available" is a boolean');
        sim.media.setAvailable(body.available);
        return { available: body.available };
      },
    ],
    ['POST', /^\/media\/expire$/, (_p, body) => ({ expired: sim.media.expire(text(body, 'url')) })],
    ['GET', /^\/users\/(\d+)\/inbox$/, ([pn]) => existing(pn!).inbox.map(receivedInfo)],
    ['GET', /^\/users\/(\d+)\/sent$/, ([pn]) => existing(pn!).sent],
    ['GET', /^\/users\/(\d+)\/receipts$/, ([pn]) => existing(pn!).receiptsReceived],
    ['GET', /^\/users\/(\d+)\/chat-states$/, ([pn]) => existing(pn!).chatStates],
    [
      'POST',
      /^\/users\/(\d+)\/groups$/,
      ([pn], body) =>
        attempt(() => {
          const members = body.members;
          if (!Array.isArray(members) || !members.every((m) => typeof m === 'string'))
            throw new HttpError(400, '"members" is a list of phone numbers');
          return existing(pn!).createGroup(
            text(body, 'subject'),
            members.map((m) => existing(m)),
          );
        }),
    ],
    [
      'PUT',
      /^\/users\/(\d+)\/receipt-policy$/,
      ([pn], body) => {
        const policy = text(body, 'policy');
        if (!['read', 'delivery', 'none'].includes(policy))
          throw new HttpError(400, '"policy" is read, delivery or none');
        existing(pn!).receipts = policy as ReceiptPolicy;
        return { policy };
      },
    ],
    [
      'POST',
      /^\/devices\/([^/]+)\/end$/,
      ([jid], body) => {
        const ending = text(body, 'ending');
        if (!isEndingName(ending))
          throw new HttpError(400, `"ending" is one of ${Object.keys(ENDINGS).join(', ')}`);
        return attempt(() => ({ ended: sim.endSession(decodeURIComponent(jid!), ending) }));
      },
    ],
    [
      'POST',
      /^\/devices\/([^/]+)\/refuse-logins$/,
      ([jid], body) => {
        const code = body.code;
        const times = body.times ?? 1;
        if (!Number.isInteger(code) || (code as number) < 400 || (code as number) > 599)
          throw new HttpError(400, '"code" is an HTTP-like status 400–599');
        if (!Number.isInteger(times) || (times as number) < 1)
          throw new HttpError(400, '"times" is a positive integer');
        sim.refuseLogins(decodeURIComponent(jid!), code as number, times as number);
        return { refused: times };
      },
    ],
    ['GET', /^\/client-versions$/, () => sim.clientVersions()],
    [
      'PUT',
      /^\/client-versions$/,
      (_p, body) => {
        sim.setClientVersions(versionPolicy(body));
        return sim.clientVersions();
      },
    ],
    ['GET', /^\/rate-overlimit$/, () => sim.rateLimits()],
    [
      'PUT',
      /^\/rate-overlimit$/,
      (_p, body) => {
        sim.rateOverlimit(rateLimitPolicy(body));
        return sim.rateLimits();
      },
    ],
    [
      'GET',
      /^\/received$/,
      (_p, _b, query) => {
        const from = query.get('from') ?? undefined;
        if (from !== undefined && !/^[0-9]{6,20}$/.test(from))
          throw new HttpError(400, '"from" is a phone number, digits only');
        return { received: sim.received(from) };
      },
    ],
    [
      'GET',
      /^\/connections$/,
      (_p, _b, query) => {
        const device = query.get('device') ?? undefined;
        return {
          records: sim.connections.records(device),
          live: sim.connections.live(device).map((r) => r.id),
          overlaps: sim.connections.overlaps(device),
          ...(device ? { maxConcurrent: sim.connections.maxConcurrent(device) } : {}),
        };
      },
    ],
    ['GET', /^\/stats$/, () => sim.stats()],
    ['GET', /^\/problems$/, () => ({ problems: sim.problems(), unhandledQueries: sim.unhandledQueries() })],
  ];
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(
  sim: Simulator,
  host = '127.0.0.1',
  port = 0,
): Promise<ControlServer> {
  const table = routes(sim);
  const respond = (res: ServerResponse, status: number, payload: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const matches = table.filter(([, pattern]) => pattern.test(url.pathname));
    const route = matches.find(([method]) => method === req.method);
    if (!route) {
      respond(res, matches.length ? 405 : 404, {
        error: matches.length ? 'method not allowed' : 'no such route',
      });
      return;
    }
    const params = route[1].exec(url.pathname)!.slice(1);
    readBody(req)
      .then((body) => route[2](params, body, url.searchParams))
      .then(
        (result) => respond(res, 200, result ?? {}),
        (err: unknown) =>
          respond(res, err instanceof HttpError ? err.status : 500, {
            error: err instanceof Error ? err.message : String(err),
          }),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `{times?, perMinute?}`: each a non-negative integer when present; `{}` turns the limit off. */
function rateLimitPolicy(body: Record<string, unknown>): RateLimitPolicy {
  const policy: RateLimitPolicy = {};
  for (const field of ['times', 'perMinute'] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < 0)
      throw new HttpError(400, `"${field}" is a non-negative integer`);
    policy[field] = value as number;
  }
  const unknown = Object.keys(body).filter((k) => k !== 'times' && k !== 'perMinute');
  if (unknown.length > 0) throw new HttpError(400, `unknown field "${unknown[0]}" (times, perMinute)`);
  return policy;
}
