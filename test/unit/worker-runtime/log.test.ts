import { Writable } from 'node:stream';
import { createLogger, interceptConsole } from '../../../worker/src/ops/log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('worker logs', () => {
  test('every line carries clinic and channel', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ clinicId: 'c1', channelId: 'main', level: 'info' }, stream);
    log.info('hello');
    log.child({ module: 'x' }).warn({ n: 1 }, 'child');
    await flush();
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatchObject({ clinic: 'c1', channel: 'main' });
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello' });
  });

  test('secrets are redacted wherever Baileys or the worker put them', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ clinicId: 'c1', channelId: 'main', level: 'info' }, stream);
    const secret = 'c2VjcmV0LWtleS1tYXRlcmlhbA==';
    log.info({ creds: { noiseKey: { private: secret } } }, 'a');
    log.info({ update: { qr: secret, keys: { 'pre-key': secret } } }, 'b');
    log.info({ privKey: secret, session: { private: secret, signedIdentityKey: secret } }, 'c');
    log.info({ message: { conversation: 'patient text' }, text: 'patient text' }, 'd');
    log.info({ pairingCode: 'ABCD1234', code: 'ABCD1234' }, 'e');
    await flush();
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('patient text');
    expect(text).not.toContain('ABCD1234');
    expect(text).toContain('[redacted]');
  });

  test('console output (libsignal) keeps only the leading text, never the objects', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ clinicId: 'c1', channelId: 'main', level: 'debug' }, stream);
    const saved = { ...console };
    try {
      interceptConsole(log);
      const sessionEntry = {
        currentRatchet: { rootKey: 'ROOTKEYSECRET', ephemeralKeyPair: { privKey: 'PRIVKEYSECRET' } },
      };
      console.info('Closing session:', sessionEntry);
      console.warn('Session already closed', sessionEntry);
      console.error('Failed to decrypt message with any known session...');
      await flush();
    } finally {
      Object.assign(console, saved);
    }
    const text = JSON.stringify(lines);
    expect(text).not.toContain('SECRET');
    expect(lines.map((l) => l.msg)).toEqual([
      'Closing session:',
      'Session already closed',
      'Failed to decrypt message with any known session...',
    ]);
  });

  test('console output keeps the text of every plain argument: a cause after its label is not lost', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ clinicId: 'c1', channelId: 'main', level: 'debug' }, stream);
    const saved = { ...console };
    try {
      interceptConsole(log);
      console.error('worker failed:', 'connect ECONNREFUSED 127.0.0.1:9000');
      const err = new TypeError('fetch failed');
      console.error('request failed', err, { privKey: 'PRIVKEYSECRET' });
      console.error('V1 session storage migration error: registrationId', 42, 'for open session version', 1);
      console.warn('Session error:' + 'x'.repeat(500), 'y'.repeat(500));
      await flush();
    } finally {
      Object.assign(console, saved);
    }
    expect(JSON.stringify(lines)).not.toContain('SECRET');
    expect(lines.map((l) => l.msg)).toEqual([
      'worker failed: connect ECONNREFUSED 127.0.0.1:9000',
      'request failed TypeError: fetch failed',
      'V1 session storage migration error: registrationId 42 for open session version 1',
      `Session error:${'x'.repeat(186)} ${'y'.repeat(200)}`,
    ]);
    expect(lines.map((l) => l.dropped)).toEqual([0, 1, 0, 0]);
  });
});
