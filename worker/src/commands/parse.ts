/**
 * Command parsing: bytes from `wa.<clinic>.<channel>.cmd.<verb>` → a typed command or a typed
 * error. Pure; nothing here has side effects, so a malformed, oversized or unknown command can
 * never change anything.
 */

export const COMMAND_VERBS = ['send', 'pair', 'logout'] as const;
export type CommandVerb = (typeof COMMAND_VERBS)[number];

export const ERROR_CODES = {
  payloadTooLarge: 'PayloadTooLarge',
  malformed: 'MalformedCommand',
  invalid: 'InvalidCommand',
  unknown: 'UnknownCommand',
  notConnected: 'NotConnected',
  alreadyLinked: 'AlreadyLinked',
  idempotencyConflict: 'IdempotencyKeyReused',
  shuttingDown: 'ShuttingDown',
  sendFailed: 'SendFailed',
  internal: 'InternalError',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export type Command =
  | { verb: 'send'; idempotencyKey: string; to: string; jid: string; text: string }
  | { verb: 'pair'; mode: 'qr' | 'code'; phoneNumber: string | undefined }
  | { verb: 'logout' };

export interface CommandError {
  code: ErrorCode;
  message: string;
}

export type ParseResult = { ok: true; command: Command } | { ok: false; error: CommandError };

export const MAX_TEXT_LENGTH = 4096;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;
const PHONE = /^\+?[1-9][0-9]{6,14}$/;
const USER_JID = /^[0-9]{6,20}@s\.whatsapp\.net$/;

const fail = (code: ErrorCode, message: string): ParseResult => ({ ok: false, error: { code, message } });

export function parseCommand(verb: string, data: Uint8Array, maxBytes: number): ParseResult {
  if (data.byteLength > maxBytes) {
    return fail(ERROR_CODES.payloadTooLarge, `command is ${data.byteLength} bytes; the limit is ${maxBytes}`);
  }
  if (!(COMMAND_VERBS as readonly string[]).includes(verb)) {
    return fail(
      ERROR_CODES.unknown,
      `unknown command "${verb.slice(0, 64)}"; known: ${COMMAND_VERBS.join(', ')}`,
    );
  }
  let body: unknown;
  try {
    body = data.byteLength === 0 ? {} : JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return fail(ERROR_CODES.malformed, 'the command body is not valid UTF-8 JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail(ERROR_CODES.malformed, 'the command body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const unknownFields = (allowed: string[]) => Object.keys(b).filter((k) => !allowed.includes(k));
  if (b.v !== undefined && b.v !== 1)
    return fail(ERROR_CODES.invalid, `unsupported version v=${JSON.stringify(b.v)}`);

  switch (verb as CommandVerb) {
    case 'send': {
      const extra = unknownFields(['v', 'idempotencyKey', 'to', 'text']);
      if (extra.length) return fail(ERROR_CODES.invalid, `unknown field(s): ${extra.join(', ')}`);
      if (typeof b.idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(b.idempotencyKey)) {
        return fail(ERROR_CODES.invalid, 'idempotencyKey must be 1-128 characters of [A-Za-z0-9._:-]');
      }
      if (typeof b.to !== 'string')
        return fail(ERROR_CODES.invalid, 'to must be a phone number or a user JID');
      const jid = toJid(b.to);
      if (!jid)
        return fail(
          ERROR_CODES.invalid,
          `to="${b.to.slice(0, 64)}" is neither an E.164 number nor a user JID`,
        );
      if (typeof b.text !== 'string' || b.text.length === 0 || b.text.length > MAX_TEXT_LENGTH) {
        return fail(
          ERROR_CODES.invalid,
          `text must be a non-empty string of at most ${MAX_TEXT_LENGTH} characters`,
        );
      }
      return {
        ok: true,
        command: { verb: 'send', idempotencyKey: b.idempotencyKey, to: b.to, jid, text: b.text },
      };
    }
    case 'pair': {
      const extra = unknownFields(['v', 'mode', 'phoneNumber']);
      if (extra.length) return fail(ERROR_CODES.invalid, `unknown field(s): ${extra.join(', ')}`);
      const mode = b.mode ?? 'qr';
      if (mode !== 'qr' && mode !== 'code') return fail(ERROR_CODES.invalid, 'mode must be "qr" or "code"');
      let phoneNumber: string | undefined;
      if (b.phoneNumber !== undefined) {
        if (typeof b.phoneNumber !== 'string' || !PHONE.test(b.phoneNumber)) {
          return fail(ERROR_CODES.invalid, 'phoneNumber must be an E.164 number');
        }
        phoneNumber = b.phoneNumber.replace(/^\+/, '');
      }
      return { ok: true, command: { verb: 'pair', mode, phoneNumber } };
    }
    case 'logout': {
      const extra = unknownFields(['v']);
      if (extra.length) return fail(ERROR_CODES.invalid, `unknown field(s): ${extra.join(', ')}`);
      return { ok: true, command: { verb: 'logout' } };
    }
  }
}

/** A phone number (E.164) or a user JID → the JID to send to. Groups are not supported yet. */
export function toJid(to: string): string | undefined {
  if (USER_JID.test(to)) return to;
  if (PHONE.test(to)) return `${to.replace(/^\+/, '')}@s.whatsapp.net`;
  return undefined;
}

/** What a retried send must match to be the same command. */
export function sendFingerprint(c: Extract<Command, { verb: 'send' }>): string {
  return JSON.stringify([c.jid, c.text]);
}
