/**
 * Command parsing: bytes from `wa.<clinic>.<channel>.cmd.<verb>` → a typed command or a typed
 * error. The size limit, JSON syntax, version and schema checks are the shared contract's
 * (`parseCommandBytes`); this module only normalises what the worker needs (recipients as JIDs,
 * numbers without "+") and checks what a schema cannot say (a group needs the participant of a
 * message it names). Pure: a malformed, oversized or unknown command changes nothing.
 */
import { createHash } from 'node:crypto';
import type { MediaKind } from '../media/media-store.ts';
import {
  COMMAND_ERROR_CODES,
  parseCommandBytes,
  type CommandError,
  type CommandErrorCode,
} from '../../../contract/index.ts';

export { COMMAND_ERROR_CODES as ERROR_CODES, type CommandError, type CommandErrorCode as ErrorCode };

/** A message named by a command: its id, whether this channel sent it, and in groups its sender. */
export interface MessageRef {
  id: string;
  fromMe: boolean;
  participant?: string | undefined;
}

export type PresenceState = 'composing' | 'recording' | 'paused' | 'available' | 'unavailable';

/** An attachment of a send: bytes in the command, or a file the channel stored. */
export type SendMedia = {
  kind: MediaKind;
  data?: Buffer | undefined;
  stored?: string | undefined;
  mimetype?: string | undefined;
  fileName?: string | undefined;
  caption?: string | undefined;
  ptt?: boolean | undefined;
  seconds?: number | undefined;
};

export type SendCommand = {
  verb: 'send';
  idempotencyKey: string;
  to: string;
  jid: string;
  /** '' when the send is an attachment. */
  text: string;
  media?: SendMedia | undefined;
  /** The quoted message, with the quoted text when the caller gave it. */
  replyTo?: (MessageRef & { text?: string | undefined }) | undefined;
  mentions?: string[] | undefined;
  /** When pacing holds the send back: wait for its turn (default) or be refused at once. */
  whenRateLimited: 'wait' | 'refuse';
};

/** Commands that send a message to a chat: remembered per idempotency key in the send log. */
export type MessageCommand =
  | SendCommand
  | { verb: 'react'; idempotencyKey: string; jid: string; message: MessageRef; emoji: string }
  | { verb: 'edit'; idempotencyKey: string; jid: string; messageId: string; text: string }
  | { verb: 'delete'; idempotencyKey: string; jid: string; message: MessageRef };

export type Command =
  | MessageCommand
  | { verb: 'pair'; mode: 'qr' | 'code'; phoneNumber: string | undefined }
  | { verb: 'logout' }
  | { verb: 'read'; jid: string; messages: { id: string; participant?: string | undefined }[] }
  | { verb: 'presence'; state: PresenceState; jid: string | undefined }
  | { verb: 'check'; numbers: string[] }
  | { verb: 'group-info'; jid: string }
  | { verb: 'media-get'; ref: string; offset: number; length: number }
  | { verb: 'media-fetch'; messageId: string }
  | {
      verb: 'media-upload';
      uploadId: string;
      part: number;
      data: Buffer;
      last: boolean;
      mimetype: string | undefined;
    };

/** The most a media-get reply carries (and the default): 512 KiB, base64 within NATS' 1 MiB. */
export const MEDIA_GET_MAX_BYTES = 512 * 1024;

export type ParseResult = { ok: true; command: Command } | { ok: false; error: CommandError };

const PHONE = /^\+?[1-9][0-9]{6,14}$/;
const USER_JID = /^[0-9]{6,20}@(s\.whatsapp\.net|lid)$/;
const GROUP_JID = /^[0-9]{6,20}(-[0-9]{6,12})?@g\.us$/;

const invalid = (field: string, what: string): ParseResult => ({
  ok: false,
  error: { code: COMMAND_ERROR_CODES.invalid, message: `${field}: ${what}` },
});

export function parseCommand(verb: string, data: Uint8Array, maxBytes: number): ParseResult {
  const parsed = parseCommandBytes(verb, data, maxBytes);
  if (!parsed.ok) return parsed;
  const c = parsed.command;
  switch (c.verb) {
    case 'send': {
      // The schema already restricts `to` to the forms toJid knows.
      const jid = toJid(c.body.to);
      if (!jid) return invalid('/to', 'not a number, user JID, LID or group JID');
      const replyTo = c.body.replyTo && messageRef(c.body.replyTo);
      if (replyTo && needsParticipant(jid, replyTo))
        return invalid('/replyTo/participant', 'required in a group unless fromMe');
      const media = c.body.media;
      if (!media && c.body.text === undefined) return invalid('/text', 'required unless media is given');
      if (media && c.body.text !== undefined)
        return invalid('/text', 'not allowed with media (the text of an attachment is /media/caption)');
      if (media && (media.data === undefined) === (media.stored === undefined))
        return invalid('/media', 'needs exactly one of data and stored');
      const data = media?.data === undefined ? undefined : base64(media.data);
      if (media?.data !== undefined && !data) return invalid('/media/data', 'not valid base64');
      if (data && data.length > MEDIA_GET_MAX_BYTES)
        return invalid(
          '/media/data',
          `more than ${MEDIA_GET_MAX_BYTES} bytes; store it with media-upload and send media.stored`,
        );
      if (media?.ptt && media.kind !== 'audio') return invalid('/media/ptt', 'only for kind audio');
      return {
        ok: true,
        command: {
          verb: 'send',
          idempotencyKey: c.body.idempotencyKey,
          to: c.body.to,
          jid,
          text: c.body.text ?? '',
          ...(media ? { media: { ...media, data } } : {}),
          ...(replyTo
            ? { replyTo: c.body.replyTo?.text ? { ...replyTo, text: c.body.replyTo.text } : replyTo }
            : {}),
          ...(c.body.mentions?.length ? { mentions: c.body.mentions } : {}),
          whenRateLimited: c.body.whenRateLimited ?? 'wait',
        },
      };
    }
    case 'pair':
      return {
        ok: true,
        command: {
          verb: 'pair',
          mode: c.body.mode ?? 'qr',
          phoneNumber: c.body.phoneNumber?.replace(/^\+/, ''),
        },
      };
    case 'logout':
      return { ok: true, command: { verb: 'logout' } };
    case 'read': {
      const jid = toJid(c.body.chat);
      if (!jid) return invalid('/chat', 'not a number, user JID, LID or group JID');
      const missing = c.body.messages.findIndex((m) => isGroup(jid) && !m.participant);
      if (missing >= 0) return invalid(`/messages/${missing}/participant`, 'required in a group');
      return {
        ok: true,
        command: {
          verb: 'read',
          jid,
          messages: c.body.messages.map((m) =>
            m.participant ? { id: m.id, participant: m.participant } : { id: m.id },
          ),
        },
      };
    }
    case 'presence': {
      const perChat = c.body.state !== 'available' && c.body.state !== 'unavailable';
      if (perChat && !c.body.chat) return invalid('/chat', `required for state ${c.body.state}`);
      if (!perChat && c.body.chat) return invalid('/chat', `not allowed for state ${c.body.state}`);
      const jid = c.body.chat === undefined ? undefined : toJid(c.body.chat);
      if (c.body.chat !== undefined && !jid)
        return invalid('/chat', 'not a number, user JID, LID or group JID');
      return { ok: true, command: { verb: 'presence', state: c.body.state, jid } };
    }
    case 'react': {
      const jid = toJid(c.body.chat);
      if (!jid) return invalid('/chat', 'not a number, user JID, LID or group JID');
      const message = messageRef(c.body.message);
      if (needsParticipant(jid, message))
        return invalid('/message/participant', 'required in a group unless fromMe');
      return {
        ok: true,
        command: { verb: 'react', idempotencyKey: c.body.idempotencyKey, jid, message, emoji: c.body.emoji },
      };
    }
    case 'edit': {
      const jid = toJid(c.body.chat);
      if (!jid) return invalid('/chat', 'not a number, user JID, LID or group JID');
      return {
        ok: true,
        command: {
          verb: 'edit',
          idempotencyKey: c.body.idempotencyKey,
          jid,
          messageId: c.body.messageId,
          text: c.body.text,
        },
      };
    }
    case 'delete': {
      const jid = toJid(c.body.chat);
      if (!jid) return invalid('/chat', 'not a number, user JID, LID or group JID');
      const message = messageRef(c.body.message);
      if (needsParticipant(jid, message))
        return invalid('/message/participant', 'required in a group unless fromMe');
      return { ok: true, command: { verb: 'delete', idempotencyKey: c.body.idempotencyKey, jid, message } };
    }
    case 'check':
      return {
        ok: true,
        command: { verb: 'check', numbers: c.body.numbers.map((n) => n.replace(/^\+/, '')) },
      };
    case 'group-info':
      return { ok: true, command: { verb: 'group-info', jid: c.body.group } };
    case 'media-get':
      return {
        ok: true,
        command: {
          verb: 'media-get',
          ref: c.body.media,
          offset: c.body.offset ?? 0,
          length: c.body.length ?? MEDIA_GET_MAX_BYTES,
        },
      };
    case 'media-fetch':
      return { ok: true, command: { verb: 'media-fetch', messageId: c.body.messageId } };
    case 'media-upload': {
      const data = base64(c.body.data);
      if (!data) return invalid('/data', 'not valid base64');
      if (data.length > MEDIA_GET_MAX_BYTES)
        return invalid('/data', `more than ${MEDIA_GET_MAX_BYTES} bytes`);
      if (c.body.mimetype !== undefined && !c.body.last) return invalid('/mimetype', 'only with last: true');
      return {
        ok: true,
        command: {
          verb: 'media-upload',
          uploadId: c.body.uploadId,
          part: c.body.part,
          data,
          last: c.body.last === true,
          mimetype: c.body.mimetype,
        },
      };
    }
  }
}

/** Strict base64 (standard alphabet, padded): undefined for anything else. */
function base64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

function messageRef(ref: { id: string; fromMe?: boolean; participant?: string }): MessageRef {
  return ref.participant
    ? { id: ref.id, fromMe: ref.fromMe ?? false, participant: ref.participant }
    : { id: ref.id, fromMe: ref.fromMe ?? false };
}

function isGroup(jid: string): boolean {
  return jid.endsWith('@g.us');
}

/** In a group, a message someone else sent is named by its sender too (WhatsApp's message key). */
function needsParticipant(chat: string, ref: MessageRef): boolean {
  return isGroup(chat) && !ref.fromMe && !ref.participant;
}

/** A phone number (E.164), a user JID, a LID or a group JID → the JID to send to. */
export function toJid(to: string): string | undefined {
  if (USER_JID.test(to) || GROUP_JID.test(to)) return to;
  if (PHONE.test(to)) return `${to.replace(/^\+/, '')}@s.whatsapp.net`;
  return undefined;
}

/**
 * What a retried command must match to be the same command. A plain text send keeps the form it
 * has always had ([jid, text]), so keys recorded by earlier workers still match their retries.
 */
export function sendFingerprint(c: MessageCommand): string {
  switch (c.verb) {
    case 'send':
      if (c.media) {
        // The bytes by their hash: a retry must carry the same file.
        const { data, ...about } = c.media;
        const digest = data ? createHash('sha256').update(data).digest('hex') : null;
        return JSON.stringify(['media', c.jid, about, digest, c.replyTo ?? null, c.mentions ?? null]);
      }
      return c.replyTo || c.mentions
        ? JSON.stringify([c.jid, c.text, c.replyTo ?? null, c.mentions ?? null])
        : JSON.stringify([c.jid, c.text]);
    case 'react':
      return JSON.stringify(['react', c.jid, c.message, c.emoji]);
    case 'edit':
      return JSON.stringify(['edit', c.jid, c.messageId, c.text]);
    case 'delete':
      return JSON.stringify(['delete', c.jid, c.message]);
  }
}
