/**
 * Serves `wa.<clinic>.<channel>.cmd.<verb>` by request/reply. Every request gets exactly one
 * reply, `{v:1, ok:true, result}` or `{v:1, ok:false, error:{code, message}}`. Parsing happens
 * before anything else, so a bad command changes nothing.
 */
import { createHash } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import {
  COMMAND_VERBS,
  MAX_MEDIA_COMMAND_BYTES,
  MEDIA_CARRYING_VERBS,
  parseSubject,
  type CommandReply,
} from '../../../contract/index.ts';
import { NoPendingMediaError } from '../media/inbound-media.ts';
import { MediaRangeError, type MediaCommands } from '../media/media-commands.ts';
import { MediaNotFoundError, UploadShapeError } from '../media/media-store.ts';
import { MediaDownloadError, MediaIntegrityError } from '../media/verified-download.ts';
import { AuditTrail, requestActor } from '../../../contract/index.ts';
import type { Metrics } from '../ops/metrics.ts';
import { contextFromHeaders, headersFor, inSpan, SpanKind, SpanStatusCode } from '../ops/tracing.ts';
import type { Permit } from '../pacing/governor.ts';
import { RateLimitedError, type SendPacing } from '../pacing/paced-send.ts';
import {
  GroupNotFoundError,
  NotConnectedError,
  PairingRefusedError,
  type OutgoingContent,
  type SessionPort,
} from '../session/session-port.ts';
import { IdempotencyCache } from './idempotency.ts';
import type { Claim, SendLog, StoredOutcome } from './send-log.ts';
import {
  ERROR_CODES,
  parseCommand,
  sendFingerprint,
  type Command,
  type CommandError,
  type MessageCommand,
} from './parse.ts';

/** The contract's command-reply.v1 payload. */
export type Reply = CommandReply;

const ok = (result: Record<string, unknown>): Reply => ({ v: 1, ok: true, result });
const err = (code: CommandError['code'], message: string): Reply => ({
  v: 1,
  ok: false,
  error: { code, message },
});
const rateLimited = (e: RateLimitedError): Reply => ({
  v: 1,
  ok: false,
  error: {
    code: ERROR_CODES.rateLimited,
    message: e.message,
    retryAfterSeconds: Math.ceil(e.retryAfterMs / 1000),
  },
});

export interface CommandServerDeps {
  nc: NatsConnection;
  subject: string;
  maxBytes: number;
  /** Finished sends kept in memory too (a retry to the same process needs no NATS round trip). */
  idempotencyCapacity: number;
  /** The durable record of sends, shared by every worker of the channel (send-log.ts). */
  sendLog: SendLog;
  /** The WhatsApp session; commands never see its socket. */
  session: SessionPort;
  /** The media verbs and a send's attachment (absent: they answer InternalError). */
  media?: MediaCommands | undefined;
  /** Limit for commands that carry file bytes (send, media-upload); default MAX_MEDIA_COMMAND_BYTES. */
  maxMediaBytes?: number;
  /** The channel's send pacing (pacing/): every send asks it first. None: sends are not paced. */
  pacing?: SendPacing | undefined;
  metrics: Metrics;
  logger: Logger;
}

export class CommandServer {
  private readonly deps: CommandServerDeps;
  private readonly sends: IdempotencyCache<{ reply: Reply; fromLog: boolean }>;
  private sub: Subscription | undefined;
  private accepting = true;
  private readonly inflight = new Set<Promise<void>>();
  private readonly audit: AuditTrail;

  constructor(deps: CommandServerDeps) {
    this.deps = deps;
    this.sends = new IdempotencyCache(deps.idempotencyCapacity);
    this.audit = new AuditTrail('worker', () => deps.nc, deps.logger);
  }

  start(): void {
    this.sub = this.deps.nc.subscribe(this.deps.subject, {
      callback: (e, msg) => {
        if (e) return this.deps.logger.error({ err: e }, 'command subscription error');
        const work = this.handle(msg).finally(() => this.inflight.delete(work));
        this.inflight.add(work);
      },
    });
  }

  /** Stops taking commands (SIGTERM); commands already running finish and are answered. */
  async stop(): Promise<void> {
    this.accepting = false;
    // Sends waiting for their turn are answered RateLimited now, not after the grace period.
    this.deps.pacing?.stop();
    await this.sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
  }

  /**
   * One command in one span, a child of the backend's request when its headers carry a trace
   * (W3C traceparent); the reply's headers carry the span, so the backend's trace goes on.
   */
  private handle(msg: Msg): Promise<void> {
    const verb = parseSubject(msg.subject)!.verb!;
    const known = (COMMAND_VERBS as readonly string[]).includes(verb) ? verb : 'unknown';
    return inSpan(
      `cmd.${known}`,
      {
        kind: SpanKind.SERVER,
        parent: contextFromHeaders(msg.headers),
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': msg.subject,
          'wa.command.verb': known,
        },
      },
      async (span) => {
        const reply = await this.answer(msg);
        if (!reply.ok) {
          span.setAttribute('wa.command.error', reply.error.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: reply.error.code });
        }
      },
    );
  }

  private async answer(msg: Msg): Promise<Reply> {
    // Always parses: the subscription is this channel's own `wa.<clinic>.<channel>.cmd.*`.
    const target = parseSubject(msg.subject)!;
    const verb = target.verb!;
    const started = performance.now();
    let reply: Reply;
    let label = 'invalid';
    if (!this.accepting) {
      reply = err(ERROR_CODES.shuttingDown, 'the worker is shutting down; retry later');
    } else {
      const limit = MEDIA_CARRYING_VERBS.includes(verb)
        ? Math.max(this.deps.maxBytes, this.deps.maxMediaBytes ?? MAX_MEDIA_COMMAND_BYTES)
        : this.deps.maxBytes;
      const parsed = parseCommand(verb, msg.data, limit);
      if (!parsed.ok) {
        reply = { v: 1, ok: false, error: parsed.error };
      } else {
        label = parsed.command.verb;
        try {
          reply = await this.execute(parsed.command);
        } catch (e) {
          this.deps.logger.error({ err: e, verb: label }, 'command failed unexpectedly');
          reply = err(ERROR_CODES.internal, 'internal error');
        }
      }
    }
    const outcome = reply.ok ? 'ok' : reply.error.code;
    this.deps.metrics.commands.inc({ verb: label, outcome });
    this.deps.metrics.commandDuration.observe({ verb: label }, (performance.now() - started) / 1000);
    this.audit.record({
      clinicId: target.clinicId,
      channelId: target.channelId,
      action: 'command.received',
      actor: requestActor(msg),
      outcome,
      details: { verb: verb.slice(0, 32) },
    });
    this.deps.logger.debug({ verb: label, outcome }, 'command answered');
    if (msg.reply) {
      const headers = headersFor();
      msg.respond(new TextEncoder().encode(JSON.stringify(reply)), headers ? { headers } : undefined);
    }
    return reply;
  }

  private async execute(command: Command): Promise<Reply> {
    switch (command.verb) {
      case 'send':
      case 'react':
      case 'edit':
      case 'delete':
        return this.send(command);
      case 'pair':
        try {
          await this.deps.session.pair(command.mode, command.phoneNumber);
          return ok({ mode: command.mode, phase: this.deps.session.phase });
        } catch (e) {
          if (e instanceof PairingRefusedError) {
            return err(
              e.code === 'AlreadyLinked' ? ERROR_CODES.alreadyLinked : ERROR_CODES.invalid,
              e.message,
            );
          }
          throw e;
        }
      case 'logout':
        try {
          await this.deps.session.logout();
          return ok({ loggedOut: true });
        } catch (e) {
          if (e instanceof NotConnectedError) return err(ERROR_CODES.notConnected, e.message);
          throw e;
        }
      case 'read':
        return this.ask(async (session) => {
          await session.markRead(command.jid, command.messages);
          return { chat: command.jid, read: command.messages.length };
        });
      case 'presence':
        return this.ask(async (session) => {
          await session.setPresence(command.state, command.jid);
          return { state: command.state, ...(command.jid ? { chat: command.jid } : {}) };
        });
      case 'check':
        return this.ask(async (session) => ({ results: await session.checkNumbers(command.numbers) }));
      case 'group-info':
        return this.ask(async (session) => ({ ...(await session.groupInfo(command.jid)) }));
      case 'media-get':
        return this.withMedia((media) => media.get(command.ref, command.offset, command.length));
      case 'media-fetch':
        return this.withMedia(async (media) => ({ ...(await media.fetchAgain(command.messageId)) }));
      case 'media-upload':
        return this.withMedia((media) =>
          media.upload(command.uploadId, command.part, command.data, command.last, command.mimetype),
        );
    }
  }

  /** A media verb: its typed failures become error codes that say what to do. */
  private async withMedia(work: (media: MediaCommands) => Promise<Record<string, unknown>>): Promise<Reply> {
    const media = this.deps.media;
    if (!media) return err(ERROR_CODES.internal, 'this worker has no media store');
    try {
      return ok(await work(media));
    } catch (e) {
      if (e instanceof NotConnectedError) return err(ERROR_CODES.notConnected, e.message);
      if (e instanceof MediaNotFoundError || e instanceof NoPendingMediaError)
        return err(ERROR_CODES.notFound, e.message);
      if (e instanceof MediaRangeError || e instanceof UploadShapeError)
        return err(ERROR_CODES.invalid, e.message);
      if (e instanceof MediaDownloadError || e instanceof MediaIntegrityError) {
        this.deps.logger.warn({ err: e }, 'media fetch failed');
        return err(ERROR_CODES.requestFailed, `${e.message}; retry later`);
      }
      this.deps.logger.warn({ err: e }, 'a media command failed');
      return err(ERROR_CODES.requestFailed, `${e instanceof Error ? e.message : String(e)}; retry`);
    }
  }

  /**
   * A verb that sends no message: a receipt, a presence or a question. Repeating one changes
   * nothing more, so it needs no idempotency key; a failure is RequestFailed (nothing to undo).
   */
  private async ask(work: (session: SessionPort) => Promise<Record<string, unknown>>): Promise<Reply> {
    try {
      return ok(await work(this.deps.session));
    } catch (e) {
      if (e instanceof NotConnectedError) return err(ERROR_CODES.notConnected, e.message);
      if (e instanceof GroupNotFoundError) return err(ERROR_CODES.notFound, e.message);
      this.deps.logger.warn({ err: e }, 'a request to WhatsApp failed');
      return err(
        ERROR_CODES.requestFailed,
        `${e instanceof Error ? e.message : String(e)}; nothing changed, retry`,
      );
    }
  }

  /** send, react, edit, delete: a message to a chat, at most once per idempotency key. */
  private async send(command: MessageCommand): Promise<Reply> {
    const fingerprint = createHash('sha256').update(sendFingerprint(command)).digest('hex');
    try {
      // In memory first: a retry while the first run is still going waits for it here.
      const out = await this.sends.run(command.idempotencyKey, fingerprint, () =>
        this.deps.pacing
          ? this.deps.pacing.paced(
              // Reactions, edits and deletions are messages too: paced alike, and they wait their turn.
              {
                jid: command.jid,
                whenRateLimited: command.verb === 'send' ? command.whenRateLimited : 'wait',
              },
              (permit) => this.sendOnce(command, fingerprint, permit),
            )
          : this.sendOnce(command, fingerprint, undefined),
      );
      if (out.kind === 'conflict') return err(ERROR_CODES.idempotencyConflict, KEY_REUSED);
      const { reply, fromLog } = out.result;
      return reply.ok ? ok({ ...reply.result, replayed: out.kind === 'replayed' || fromLog }) : reply;
    } catch (e) {
      if (e instanceof NotConnectedError) return err(ERROR_CODES.notConnected, e.message);
      if (e instanceof SendRefused) return err(e.code, e.message);
      if (e instanceof RateLimitedError) return rateLimited(e);
      throw e;
    }
  }

  /** What a message command sends; a send's attachment is read from the command or the store. */
  private async outgoingContent(command: MessageCommand): Promise<OutgoingContent> {
    if (command.verb !== 'send' || !command.media) return outgoingContent(command);
    if (!this.deps.media) throw new Error('this worker has no media store');
    return { kind: 'media', media: await this.deps.media.outgoing(command.media) };
  }

  /**
   * One send, recorded in the channel's durable send log (send-log.ts): claimed before anything
   * leaves, completed with the outcome before the reply. A refusal or a send that certainly did
   * not leave is thrown, so the in-memory cache does not remember it.
   */
  private async sendOnce(
    command: MessageCommand,
    fingerprint: string,
    permit: Permit | undefined,
  ): Promise<{ reply: Reply; fromLog: boolean }> {
    const { sendLog, session, logger } = this.deps;
    const key = command.idempotencyKey;
    let claim: Claim;
    try {
      claim = await sendLog.claim(key, fingerprint);
    } catch (e) {
      permit?.notSent();
      throw e;
    }
    // Only a claimed key sends: a replay or a refusal gives the pacing permit back.
    if (claim.kind !== 'claimed') permit?.notSent();
    switch (claim.kind) {
      case 'conflict':
        throw new SendRefused(ERROR_CODES.idempotencyConflict, KEY_REUSED);
      case 'in-flight':
        throw new SendRefused(
          ERROR_CODES.outcomeUnknown,
          'a send with this idempotencyKey was started and its outcome was never recorded (the worker ' +
            'stopped while sending); it is not sent again: check the conversation, then send with a new key',
        );
      case 'done':
        return { reply: replyOf(claim.outcome, command.jid), fromLog: true };
      case 'claimed':
        break;
    }
    let outcome: StoredOutcome;
    try {
      const sent = await session.send(command.jid, await this.outgoingContent(command), {
        messageId: sendMessageId(this.deps.subject, key),
      });
      this.deps.metrics.messagesOut.inc();
      outcome = { ok: true, messageId: sent.id, timestamp: sent.timestamp };
    } catch (e) {
      // WhatsApp said "too fast" before the message left (rate-overlimit on the device query):
      // the channel slows down at once (before anything else may take the token back), and the
      // pacing sends it again in the slower queue, or answers RateLimited.
      const tooFast = this.deps.pacing?.isWhatsAppRateLimit(e)
        ? this.deps.pacing.refusedByWhatsApp(e)
        : undefined;
      permit?.notSent({ refund: tooFast === undefined });
      // Nothing is remembered for a failed send: every try of this key goes out under the same
      // message id (sendMessageId), and WhatsApp keeps one message per id, so a retry can
      // never make a second copy, even when the failed try's stanza did leave (Baileys commits
      // the session keys after sending; the socket may close in between). The claim goes, so
      // a retry may send.
      await sendLog
        .release(key, claim.revision)
        .catch((error: unknown) =>
          logger.warn({ err: error }, 'could not release a send claim; a retry will get OutcomeUnknown'),
        );
      if (e instanceof NotConnectedError) throw e;
      if (tooFast) throw tooFast;
      if (e instanceof MediaNotFoundError) throw new SendRefused(ERROR_CODES.notFound, e.message);
      logger.warn(
        { err: e },
        'send failed; a retry with the same idempotencyKey sends it again, under the same id',
      );
      throw new SendRefused(
        ERROR_CODES.sendFailed,
        `${e instanceof Error ? e.message : String(e)}; retry with the same idempotencyKey (the message keeps its id, so it is never delivered twice)`,
      );
    }
    // A first message makes the contact known (durably) before the reply: the daily cap counts it.
    await permit
      ?.sent()
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'could not store the new contact; the daily cap may undercount it'),
      );
    // Before the reply: a worker that dies after this point has left the answer for the retry.
    await sendLog
      .complete(key, claim.revision, fingerprint, outcome)
      .catch((error: unknown) =>
        logger.error(
          { err: error },
          'could not record a send outcome; a retry on another worker gets OutcomeUnknown',
        ),
      );
    return { reply: replyOf(outcome, command.jid), fromLog: false };
  }
}

const KEY_REUSED = 'this idempotencyKey was used for a different message';

/** What a message command sends, as the session port takes it. */
function outgoingContent(command: MessageCommand): OutgoingContent {
  switch (command.verb) {
    case 'send':
      return { kind: 'text', text: command.text, replyTo: command.replyTo, mentions: command.mentions };
    case 'react':
      return { kind: 'reaction', message: command.message, emoji: command.emoji };
    case 'edit':
      return { kind: 'edit', messageId: command.messageId, text: command.text };
    case 'delete':
      return { kind: 'revoke', message: command.message };
  }
}

/**
 * The WhatsApp message id of a send: derived from the channel (its command subject) and the
 * idempotency key, so every try of one key, on any worker of the channel, is the same message
 * to WhatsApp. Shaped like the ids Baileys makes (`3EB0` and 18 upper-case hex digits).
 */
export function sendMessageId(channelSubject: string, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${channelSubject}\n${idempotencyKey}`).digest('hex');
  return `3EB0${digest.slice(0, 18).toUpperCase()}`;
}

/** A send refused before anything left: never remembered in memory, the durable log decides. */
class SendRefused extends Error {
  readonly code: CommandError['code'];

  constructor(code: CommandError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

function replyOf(outcome: StoredOutcome, to: string): Reply {
  return outcome.ok
    ? ok({ messageId: outcome.messageId, to, timestamp: outcome.timestamp })
    : { v: 1, ok: false, error: outcome.error };
}
