/**
 * JSON logs through pino: every line carries the clinic and channel, secrets are redacted, and
 * console output from libraries is intercepted (libsignal prints whole Signal session records,
 * private keys included, with console.info/warn/error).
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config.ts';
import { traceLogFields } from './tracing.ts';

/** Paths pino replaces with "[redacted]" wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'creds',
  '*.creds',
  'keys',
  '*.keys',
  'authState',
  '*.authState',
  'qr',
  '*.qr',
  'code',
  '*.code',
  'pairingCode',
  '*.pairingCode',
  'privKey',
  '*.privKey',
  'private',
  '*.private',
  '*.*.private',
  'noiseKey',
  '*.noiseKey',
  'signedIdentityKey',
  '*.signedIdentityKey',
  'advSecretKey',
  '*.advSecretKey',
  'message',
  'text',
  '*.text',
  'node.content',
  'fullErrorNode',
  'headers.authorization',
  'secretAccessKey',
  '*.secretAccessKey',
  'Plaintext',
  '*.Plaintext',
  'CiphertextBlob',
  '*.CiphertextBlob',
];

export function createLogger(
  opts: { clinicId: string; channelId: string; level: LogLevel },
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level: opts.level,
      base: { clinic: opts.clinicId, channel: opts.channelId },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The trace of the work a line belongs to (a command, an inbound message), when tracing is on.
      mixin: traceLogFields,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * The logger handed to Baileys. Baileys logs whole binary nodes and, at trace level, every
 * frame; it never needs more than warnings in production.
 */
export function baileysLogger(logger: Logger): Logger {
  const level = logger.levelVal <= pino.levels.values.debug! ? logger.level : 'warn';
  return logger.child({ module: 'baileys' }, { level });
}

/** Longest text kept from one console argument: a string may itself embed key material. */
const MAX_ARGUMENT_TEXT = 200;

/**
 * The text of one console argument, or undefined when it must not be logged: strings, numbers
 * and booleans are kept (capped), an Error becomes "Name: message", and objects are dropped
 * (libsignal's session records carry private keys).
 */
function argumentText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.slice(0, MAX_ARGUMENT_TEXT);
  if (typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`.slice(0, MAX_ARGUMENT_TEXT);
  return undefined;
}

/**
 * Replaces the console methods with ones that keep the text of every plain argument and drop
 * every object: libsignal's "Closing session:" without the session record that follows it,
 * while `console.error('worker failed:', err.message)` keeps its cause.
 */
export function interceptConsole(logger: Logger): void {
  const log = logger.child({ module: 'console' });
  const to =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      const kept = args.map(argumentText);
      const text = kept.filter((t) => t !== undefined && t !== '').join(' ');
      const dropped = kept.filter((t) => t === undefined).length;
      if (text) log[level]({ dropped }, text);
    };
  /* eslint-disable no-console -- replacing the console methods is the point here */
  console.log = to('debug');
  console.debug = to('debug');
  console.trace = to('debug');
  console.info = to('debug');
  console.warn = to('warn');
  console.error = to('warn');
  /* eslint-enable no-console */
}
