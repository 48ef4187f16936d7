import {
  ALL_STATUS_SUBJECTS,
  InvalidTokenError,
  auditSubject,
  channelSubjects,
  clinicStream,
  clinicStreamName,
  clinicWildcard,
  isValidToken,
  parseSubject,
} from '../../../contract/index.ts';

describe('clinic and channel tokens', () => {
  test.each(['a', 'clinic-a', 'c0', 'x'.repeat(63), '123'])('%s is valid', (t) =>
    expect(isValidToken(t)).toBe(true),
  );
  test.each(['', 'Clinic', 'a.b', 'a*', 'a>', 'a b', '-a', 'a-', 'x'.repeat(64), 'á', 'a_b', 5, null])(
    '%p is refused',
    (t) => expect(isValidToken(t)).toBe(false),
  );
});

describe('channel subjects', () => {
  const s = channelSubjects('clinic-a', 'front-desk');
  test('follow wa.<clinic>.<channel>.…', () => {
    expect([s.status, s.qr, s.msgIn, s.msgUpdate, s.command('send'), s.commands, s.all]).toEqual([
      'wa.clinic-a.front-desk.status',
      'wa.clinic-a.front-desk.qr',
      'wa.clinic-a.front-desk.msg.in',
      'wa.clinic-a.front-desk.msg.update',
      'wa.clinic-a.front-desk.cmd.send',
      'wa.clinic-a.front-desk.cmd.*',
      'wa.clinic-a.front-desk.>',
    ]);
    expect(clinicWildcard('clinic-a')).toBe('wa.clinic-a.>');
    expect(ALL_STATUS_SUBJECTS).toBe('wa.*.*.status');
  });

  test.each([
    ['clinic.b', 'x'],
    ['*', 'x'],
    ['>', 'x'],
    ['a', 'b c'],
    ['a', ''],
    ['A', 'b'],
  ])('refuse tokens that would escape the clinic: %p %p', (clinic, channel) => {
    expect(() => channelSubjects(clinic, channel)).toThrow(InvalidTokenError);
  });

  test('name the bad token in the error', () => {
    expect(() => channelSubjects('clinic.b', 'x')).toThrow(/clinicId "clinic.b" is not valid/);
    expect(() => clinicWildcard('>')).toThrow(/clinicId ">"/);
  });

  test('refuse command verbs that are not one token', () => {
    expect(() => s.command('send.x')).toThrow(/verb/);
    expect(() => s.command('>')).toThrow(/verb/);
  });

  test('parse back into clinic, channel and kind', () => {
    expect(parseSubject(s.status)).toEqual({ clinicId: 'clinic-a', channelId: 'front-desk', kind: 'status' });
    expect(parseSubject(s.msgUpdate)).toEqual({
      clinicId: 'clinic-a',
      channelId: 'front-desk',
      kind: 'msg.update',
    });
    expect(parseSubject(s.command('logout'))).toEqual({
      clinicId: 'clinic-a',
      channelId: 'front-desk',
      kind: 'cmd',
      verb: 'logout',
    });
    for (const bad of [
      'wa.a.b',
      'wa.a.b.other',
      'x.a.b.status',
      'wa.A.b.status',
      'wa.a.b.cmd',
      'wa.a.b.msg.out',
    ]) {
      expect(parseSubject(bad)).toBeUndefined();
    }
  });

  test('the audit subject is outside every clinic wildcard', () => {
    expect(auditSubject('clinic-a', 'x')).toBe('wa-audit.clinic-a.x');
    expect(auditSubject('clinic-a', 'x').startsWith('wa.')).toBe(false);
  });
});

describe('JetStream layout', () => {
  test('one stream per clinic, capturing only that clinic and only durable events', () => {
    expect(clinicStreamName('clinic-a')).toBe('WA_CLINIC_A');
    expect(clinicStream('clinic-a').subjects).toEqual([
      'wa.clinic-a.*.status',
      'wa.clinic-a.*.msg.in',
      'wa.clinic-a.*.msg.update',
    ]);
    expect(() => clinicStream('Clinic A')).toThrow(InvalidTokenError);
  });
});
