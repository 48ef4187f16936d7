/**
 * Command parsing: bytes from `wa.<clinic>.<channel>.cmd.<verb>` → a typed command or a typed
 * error. The size limit, JSON syntax, version and schema checks are the shared contract's
 * (`parseCommandBytes`); this module only normalises what the worker needs (the recipient as a
 * JID, numbers without "+"). Pure: a malformed, oversized or unknown command changes nothing.
 */
import {
  COMMAND_ERROR_CODES,
  parseCommandBytes,
  type CommandError,
  type CommandErrorCode,
} from '../../../contract/index.ts';

export { COMMAND_ERROR_CODES as ERROR_CODES, type CommandError, type CommandErrorCode as ErrorCode };

export type Command =
  | { verb: 'send'; idempotencyKey: string; to: string; jid: string; text: string }
  | { verb: 'pair'; mode: 'qr' | 'code'; phoneNumber: string | undefined }
  | { verb: 'logout' };

export type ParseResult = { ok: true; command: Command } | { ok: false; error: CommandError };

const PHONE = /^\+?[1-9][0-9]{6,14}$/;
const USER_JID = /^[0-9]{6,20}@s\.whatsapp\.net$/;

export function parseCommand(verb: string, data: Uint8Array, maxBytes: number): ParseResult {
  const parsed = parseCommandBytes(verb, data, maxBytes);
  if (!parsed.ok) return parsed;
  const c = parsed.command;
  switch (c.verb) {
    case 'send': {
      // The schema already restricts `to` to exactly these two forms.
      const jid = toJid(c.body.to);
      if (!jid) {
        return {
          ok: false,
          error: { code: COMMAND_ERROR_CODES.invalid, message: '/to: not a number or user JID' },
        };
      }
      return {
        ok: true,
        command: {
          verb: 'send',
          idempotencyKey: c.body.idempotencyKey,
          to: c.body.to,
          jid,
          text: c.body.text,
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
  }
}

/** A phone number (E.164) or a user JID → the JID to send to. */
export function toJid(to: string): string | undefined {
  if (USER_JID.test(to)) return to;
  if (PHONE.test(to)) return `${to.replace(/^\+/, '')}@s.whatsapp.net`;
  return undefined;
}

/** What a retried send must match to be the same command. */
export function sendFingerprint(c: Extract<Command, { verb: 'send' }>): string {
  return JSON.stringify([c.jid, c.text]);
}
