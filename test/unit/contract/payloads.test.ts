import {
  COMMAND_ERROR_CODES,
  MAX_COMMAND_BYTES,
  PAYLOAD_KINDS,
  parseCommandBytes,
  payloadSchema,
  validatePayload,
} from '../../../contract/index.ts';

const ids = { v: 1, clinicId: 'clinic-a', channelId: 'front-desk' };
const at = '2026-11-25T10:00:00.000Z';
const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('payload schemas', () => {
  test('every kind has a versioned $id', () => {
    for (const kind of PAYLOAD_KINDS)
      expect(payloadSchema(kind).$id).toMatch(new RegExp(`/${kind}\\.v1\\.json$`));
  });

  test.each([
    ['status', { ...ids, worker: 'p-1', phase: 'Connected', reconnects: 0, degraded: false, at, seq: 1 }],
    ['qr', { ...ids, type: 'qr', qr: '2@abc,def', attempt: 1, maxAttempts: 5, at }],
    ['qr', { ...ids, type: 'code', code: 'ABCD1234', phoneNumber: '5511987654321', at }],
    [
      'message-in',
      {
        ...ids,
        id: '3EB0A1',
        chat: '1@s.whatsapp.net',
        sender: '1@s.whatsapp.net',
        fromMe: false,
        text: 'hi',
      },
    ],
    ['message-update', { ...ids, id: '3EB0A1', chat: '1@s.whatsapp.net', fromMe: true, update: 'read' }],
    ['command-send', { idempotencyKey: 'k-1', to: '+5511987654321', text: 'hello' }],
    ['command-pair', { v: 1, mode: 'code', phoneNumber: '+5511987654321' }],
    ['command-logout', {}],
    ['command-reply', { v: 1, ok: true, result: { id: 'x' } }],
    ['command-reply', { v: 1, ok: false, error: { code: 'NotConnected', message: 'not connected' } }],
  ] as const)('%s accepts a good payload', (kind, value) => {
    expect(validatePayload(kind, value)).toEqual({ ok: true, value });
  });

  test.each([
    ['status', { ...ids, worker: 'p', phase: 'Happy', reconnects: 0, degraded: false, at, seq: 1 }, '/phase'],
    [
      'status',
      {
        ...ids,
        clinicId: 'Clinic A',
        worker: 'p',
        phase: 'Pending',
        reconnects: 0,
        degraded: false,
        at,
        seq: 1,
      },
      '/clinicId',
    ],
    [
      'status',
      { ...ids, worker: 'p', phase: 'Pending', reconnects: 0, degraded: false, at: 'yesterday', seq: 1 },
      '/at',
    ],
    ['qr', { ...ids, type: 'code', code: 'abc', phoneNumber: '5511987654321', at }, '/code'],
    ['qr', { ...ids, type: 'qr', at }, '/qr'],
    ['message-in', { ...ids, id: '', chat: 'c', sender: 's', fromMe: false }, '/id'],
    ['message-in', { ...ids, v: 2, id: 'x', chat: 'c', sender: 's', fromMe: false }, '/v'],
    ['message-update', { ...ids, id: 'x', chat: 'c', fromMe: true }, '/update'],
    ['command-send', { idempotencyKey: 'k', to: 'not-a-number', text: 'x' }, '/to'],
    ['command-send', { idempotencyKey: 'k', to: '+5511987654321', text: 'x'.repeat(4097) }, '/text'],
    ['command-send', { idempotencyKey: 'k', to: '+5511987654321', text: 'x', extra: 1 }, '/extra'],
    ['command-pair', { mode: 'sms' }, '/mode'],
    ['command-reply', { v: 1, ok: false, error: { code: 'Oops', message: 'x' } }, '/error/code'],
  ] as const)('%s refuses a bad payload and names the field (%#)', (kind, value, field) => {
    const result = validatePayload(kind, value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toContain(field);
  });
});

describe('command parsing', () => {
  test('a good command is typed', () => {
    const parsed = parseCommandBytes(
      'send',
      bytes({ idempotencyKey: 'k-1', to: '+5511987654321', text: 'hello' }),
    );
    expect(parsed).toEqual({
      ok: true,
      command: { verb: 'send', body: { idempotencyKey: 'k-1', to: '+5511987654321', text: 'hello' } },
    });
    expect(parseCommandBytes('logout', new Uint8Array())).toEqual({
      ok: true,
      command: { verb: 'logout', body: {} },
    });
  });

  test.each([
    ['send', 'x'.repeat(MAX_COMMAND_BYTES + 1), COMMAND_ERROR_CODES.payloadTooLarge],
    ['reboot', '{}', COMMAND_ERROR_CODES.unknown],
    ['constructor', '{}', COMMAND_ERROR_CODES.unknown],
    ['send', '{not json', COMMAND_ERROR_CODES.malformed],
    ['send', '\xff\xfe', COMMAND_ERROR_CODES.malformed],
    ['send', '{"v":2,"idempotencyKey":"k","to":"+5511987654321","text":"x"}', COMMAND_ERROR_CODES.invalid],
    ['send', '{"to":"+5511987654321","text":"x"}', COMMAND_ERROR_CODES.invalid],
    ['logout', '[]', COMMAND_ERROR_CODES.invalid],
  ])('%s %p → %s', (verb, body, code) => {
    const data = body === '\xff\xfe' ? new Uint8Array([0xff, 0xfe]) : bytes(body);
    const parsed = parseCommandBytes(verb, data);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.code).toBe(code);
  });
});
