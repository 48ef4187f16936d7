import { describeFailure, failureCause } from '../../../worker/src/ops/failure-cause.ts';
import { ObjectStoreError } from '../../../worker/src/auth-store/object-store.ts';

/** Errors shaped as Node and the AWS SDK throw them. */
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), {
    code: 'ECONNREFUSED',
    address: '127.0.0.1',
    port: 9000,
  });
const timedOut = () =>
  Object.assign(new Error('Connection timed out after 5000 ms'), { name: 'TimeoutError' });

describe('failure causes', () => {
  test('a refused connection under an S3 store error names the endpoint and says unreachable', () => {
    const err = new ObjectStoreError('put', 's3://bucket/wa/c/main/lease', refused());
    expect(failureCause(err)).toEqual({
      name: 'ObjectStoreError',
      message: 'put s3://bucket/wa/c/main/lease failed: connect ECONNREFUSED 127.0.0.1:9000',
      target: '127.0.0.1:9000',
      kind: 'unreachable',
    });
    expect(describeFailure('S3', err)).toBe(
      'S3 unreachable (ObjectStoreError: put s3://bucket/wa/c/main/lease failed: connect ECONNREFUSED 127.0.0.1:9000)',
    );
  });

  test('a request that got no answer is "not answering", not "unreachable"', () => {
    const err = new ObjectStoreError('get', 's3://bucket/wa/c/main/datakey', timedOut());
    expect(failureCause(err).kind).toBe('not answering');
    expect(failureCause(err).target).toBeUndefined();
  });

  test('anything else is "failing", and non-errors are described too', () => {
    expect(failureCause(new Error('503 SlowDown')).kind).toBe('failing');
    expect(failureCause('plain text')).toMatchObject({ name: 'string', message: 'plain text' });
  });

  test('a cause chain that loops is read a bounded number of levels', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(failureCause(a).kind).toBe('failing');
  });
});
