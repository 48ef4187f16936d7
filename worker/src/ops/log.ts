/**
 * JSON logs through pino: every line carries the clinic and channel, secrets are redacted, and
 * console output from libraries is intercepted (libsignal prints whole Signal session records,
 * private keys included, with console.info/warn/error).
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config.ts';

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

/**
 * Replaces the console methods with ones that keep only the leading text of the first argument
 * (libsignal's "Closing session:" without the session record that follows it).
 */
export function interceptConsole(logger: Logger): void {
  const log = logger.child({ module: 'console' });
  const keepText = (args: unknown[]): string => {
    const first = args[0];
    const text = typeof first === 'string' ? first : first instanceof Error ? first.message : '';
    // A string argument may itself embed key material (e.g. "Session error:" + e): cap it.
    return text.slice(0, 200);
  };
  const to =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      const text = keepText(args);
      if (text) log[level]({ dropped: args.length - 1 }, text);
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
