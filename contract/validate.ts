/**
 * Validation of NATS payloads against the versioned JSON Schemas in contract/schemas/.
 * The schemas are compiled once, at first use. Commands are also checked for size and
 * JSON syntax first, so every refusal is a typed error a client can act on.
 *
 * ajv itself is loaded at first use too (a synchronous require of the CommonJS package): every
 * process that imports the contract would otherwise load it, and the worker, which validates
 * nothing, paid its import at every start (issue 18).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type * as P from './generated/payloads.ts';
import type { CommandVerb } from './subjects.ts';

export const PAYLOAD_VERSION = 1;
/** Largest command body accepted, in bytes (NATS itself allows 1 MiB). */
export const MAX_COMMAND_BYTES = 64 * 1024;
/**
 * Largest body of a command that carries file bytes (`media-upload`, `send` with `media.data`):
 * 512 KiB of bytes in base64 and the rest of the command, within NATS' default 1 MiB payload.
 */
export const MAX_MEDIA_COMMAND_BYTES = 1_000_000;
/** The verbs whose bodies may carry file bytes, and so get MAX_MEDIA_COMMAND_BYTES. */
export const MEDIA_CARRYING_VERBS: readonly string[] = ['send', 'media-upload'];

export interface PayloadTypes {
  status: P.StatusEvent;
  qr: P.PairingEvent;
  'message-in': P.InboundMessageEvent;
  'message-update': P.MessageUpdateEvent;
  'command-send': P.SendCommand;
  'command-pair': P.PairCommand;
  'command-logout': P.LogoutCommand;
  'command-read': P.ReadCommand;
  'command-presence': P.PresenceCommand;
  'command-react': P.ReactCommand;
  'command-edit': P.EditCommand;
  'command-delete': P.DeleteCommand;
  'command-check': P.CheckCommand;
  'command-group-info': P.GroupInfoCommand;
  'command-media-get': P.MediaGetCommand;
  'command-media-fetch': P.MediaFetchCommand;
  'command-media-upload': P.MediaUploadCommand;
  'command-reply': P.CommandReply;
  audit: P.AuditEvent;
}
export type PayloadKind = keyof PayloadTypes;
export const PAYLOAD_KINDS = Object.freeze([
  'status',
  'qr',
  'message-in',
  'message-update',
  'command-send',
  'command-pair',
  'command-logout',
  'command-read',
  'command-presence',
  'command-react',
  'command-edit',
  'command-delete',
  'command-check',
  'command-group-info',
  'command-media-get',
  'command-media-fetch',
  'command-media-upload',
  'command-reply',
  'audit',
] as const satisfies readonly PayloadKind[]);

export const COMMAND_ERROR_CODES = {
  payloadTooLarge: 'PayloadTooLarge',
  malformed: 'MalformedCommand',
  invalid: 'InvalidCommand',
  unknown: 'UnknownCommand',
  notConnected: 'NotConnected',
  alreadyLinked: 'AlreadyLinked',
  idempotencyConflict: 'IdempotencyKeyReused',
  shuttingDown: 'ShuttingDown',
  sendFailed: 'SendFailed',
  /** A send with this key was started and its outcome was never recorded (docs/contract.md). */
  outcomeUnknown: 'OutcomeUnknown',
  /** What the command names does not exist on WhatsApp (a group this account is not in). */
  notFound: 'NotFound',
  /** A query to WhatsApp (check, group-info) failed or timed out; nothing changed, retry. */
  requestFailed: 'RequestFailed',
  /** The channel's send pacing held the send back; the error carries retryAfterSeconds. */
  rateLimited: 'RateLimited',
  internal: 'InternalError',
} as const;
export type CommandErrorCode = (typeof COMMAND_ERROR_CODES)[keyof typeof COMMAND_ERROR_CODES];

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), 'schemas');
let validators: Map<PayloadKind, ValidateFunction> | undefined;

/** The JSON Schema of a payload kind, as published (for docs and for other languages). */
export function payloadSchema(kind: PayloadKind): Record<string, unknown> {
  return JSON.parse(readFileSync(join(schemaDir, `${kind}.v${PAYLOAD_VERSION}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * ajv, loaded at the first validation: it and the compiled validators cost start-up time and
 * memory that a process may never need. Run from the sources (Node's ESM has no `require`), it
 * comes from node_modules through createRequire. In the worker's bundle (worker/build/bundle.ts)
 * `require` exists, and esbuild, seeing these literal calls, puts ajv inside the bundle (still
 * evaluated only here), so the worker image needs no node_modules.
 */
function loadAjv(): { Ajv: typeof import('ajv').Ajv; addFormats: typeof import('ajv-formats').default } {
  if (typeof require === 'function')
    return {
      // Literal require() calls on purpose: the form esbuild follows into the bundle.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      Ajv: (require('ajv') as typeof import('ajv')).Ajv,
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      addFormats: require('ajv-formats') as typeof import('ajv-formats').default,
    };
  const load = createRequire(import.meta.url);
  return {
    Ajv: (load('ajv') as typeof import('ajv')).Ajv,
    addFormats: load('ajv-formats') as typeof import('ajv-formats').default,
  };
}

function compiled(kind: PayloadKind): ValidateFunction {
  if (!validators) {
    const { Ajv, addFormats } = loadAjv();
    // strictRequired off: the oneOf branches require properties that the parent schema defines.
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    addFormats(ajv);
    validators = new Map(PAYLOAD_KINDS.map((k) => [k, ajv.compile(payloadSchema(k))]));
  }
  return validators.get(kind)!;
}

/** "/to: must match pattern …" style messages that name the offending field. */
function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const field =
      e.keyword === 'additionalProperties'
        ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`
        : e.keyword === 'required'
          ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`
          : e.instancePath || '/';
    const what = e.keyword === 'additionalProperties' ? 'is not a known field' : (e.message ?? 'is invalid');
    return `${field}: ${what}`;
  });
}

export function validatePayload<K extends PayloadKind>(kind: K, value: unknown): Validation<PayloadTypes[K]> {
  const validate = compiled(kind);
  return validate(value)
    ? { ok: true, value: value as PayloadTypes[K] }
    : { ok: false, errors: describe(validate.errors) };
}

export interface CommandError {
  code: CommandErrorCode;
  message: string;
}

export type ParsedCommand =
  | { verb: 'send'; body: P.SendCommand }
  | { verb: 'pair'; body: P.PairCommand }
  | { verb: 'logout'; body: P.LogoutCommand }
  | { verb: 'read'; body: P.ReadCommand }
  | { verb: 'presence'; body: P.PresenceCommand }
  | { verb: 'react'; body: P.ReactCommand }
  | { verb: 'edit'; body: P.EditCommand }
  | { verb: 'delete'; body: P.DeleteCommand }
  | { verb: 'check'; body: P.CheckCommand }
  | { verb: 'group-info'; body: P.GroupInfoCommand }
  | { verb: 'media-get'; body: P.MediaGetCommand }
  | { verb: 'media-fetch'; body: P.MediaFetchCommand }
  | { verb: 'media-upload'; body: P.MediaUploadCommand };

const COMMAND_SCHEMAS: Record<CommandVerb, PayloadKind> = {
  send: 'command-send',
  pair: 'command-pair',
  logout: 'command-logout',
  read: 'command-read',
  presence: 'command-presence',
  react: 'command-react',
  edit: 'command-edit',
  delete: 'command-delete',
  check: 'command-check',
  'group-info': 'command-group-info',
  'media-get': 'command-media-get',
  'media-fetch': 'command-media-fetch',
  'media-upload': 'command-media-upload',
};

/**
 * Bytes of a command request → the typed command, or the typed error to reply with.
 * Pure: a refused command changes nothing.
 */
export function parseCommandBytes(
  verb: string,
  data: Uint8Array,
  maxBytes = MAX_COMMAND_BYTES,
): { ok: true; command: ParsedCommand } | { ok: false; error: CommandError } {
  const fail = (code: CommandErrorCode, message: string) => ({
    ok: false as const,
    error: { code, message },
  });
  if (data.byteLength > maxBytes) {
    return fail(
      COMMAND_ERROR_CODES.payloadTooLarge,
      `command is ${data.byteLength} bytes; the limit is ${maxBytes}`,
    );
  }
  const kind = Object.hasOwn(COMMAND_SCHEMAS, verb) ? COMMAND_SCHEMAS[verb as CommandVerb] : undefined;
  if (!kind) {
    return fail(
      COMMAND_ERROR_CODES.unknown,
      `unknown command ${JSON.stringify(verb.slice(0, 64))}; known: ${Object.keys(COMMAND_SCHEMAS).join(', ')}`,
    );
  }
  let body: unknown;
  try {
    body = data.byteLength === 0 ? {} : JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return fail(COMMAND_ERROR_CODES.malformed, 'the command body is not valid UTF-8 JSON');
  }
  if (
    typeof body === 'object' &&
    body !== null &&
    'v' in body &&
    (body as { v: unknown }).v !== PAYLOAD_VERSION
  ) {
    return fail(
      COMMAND_ERROR_CODES.invalid,
      `unsupported payload version v=${JSON.stringify((body as { v: unknown }).v)}`,
    );
  }
  const checked = validatePayload(kind, body);
  if (!checked.ok) return fail(COMMAND_ERROR_CODES.invalid, checked.errors.join('; '));
  return { ok: true, command: { verb, body: checked.value } as ParsedCommand };
}
