import { ErrorCode, NatsError } from 'nats';
import { classifyNatsError } from '../../../contract/index.ts';

/** NATS failures are told apart by nats.js's error codes, never by message wording. */
describe('classifyNatsError', () => {
  test.each([
    [new NatsError('503', ErrorCode.NoResponders), 'no-responders'],
    [NatsError.errorForCode(ErrorCode.Timeout), 'timeout'],
    [
      new NatsError('Permissions Violation for Publish to "wa.x"', ErrorCode.PermissionsViolation),
      'permission-denied',
    ],
    [new NatsError('Authorization Violation', ErrorCode.AuthorizationViolation), 'credentials-refused'],
    [new NatsError('User Authentication Expired', ErrorCode.AuthenticationExpired), 'credentials-refused'],
    [new NatsError('Account Authentication Expired', ErrorCode.AccountExpired), 'credentials-refused'],
    [new NatsError('message not found', ErrorCode.JetStream404NoMessages), 'not-found'],
    [
      Object.assign(new NatsError('stream not found', '404'), { api_error: { code: 404, err_code: 10059 } }),
      'not-found',
    ],
    [new NatsError('connection refused', ErrorCode.ConnectionRefused), 'other'],
  ] as const)('%s is %s', (err, failure) => {
    expect(classifyNatsError(err)).toBe(failure);
  });

  test('the wording of a message alone classifies nothing', () => {
    expect(classifyNatsError(new Error('Permissions Violation for Subscription to "wa.>"'))).toBe('other');
    expect(classifyNatsError(new Error('stream not found'))).toBe('other');
    expect(classifyNatsError(undefined)).toBe('other');
  });
});
