import { apiMessage, apiStatus } from '../../../operator/src/kube/client.ts';
import { DirectConnection } from '../../../operator/src/kube/connection.ts';
import { KubeApiError, statusMessage } from '../../../operator/src/kube/http.ts';
import { microTime } from '../../../operator/src/kube/leader-election.ts';

const status = (code: number, message: string, reason: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });

test('an API error carries the HTTP status and the Status message where apiStatus and apiMessage read them', () => {
  const err = new KubeApiError(
    'POST',
    '/api/v1/namespaces/a/pods',
    403,
    status(403, 'pods "w" is forbidden: violates PodSecurity "restricted"', 'Forbidden'),
  );
  expect(apiStatus(err)).toBe(403);
  expect(err.statusCode).toBe(403); // where resource-cache.ts reads a watch's status
  expect(apiMessage(err)).toBe('pods "w" is forbidden: violates PodSecurity "restricted"');
  expect(err.message).toBe(
    'POST /api/v1/namespaces/a/pods: HTTP 403: pods "w" is forbidden: violates PodSecurity "restricted"',
  );
});

test('a body that is not a Status: the message says the HTTP status, apiMessage gives the text (cut short)', () => {
  const err = new KubeApiError('GET', '/x', 502, `<html>${'x'.repeat(1000)}</html>`);
  expect(apiStatus(err)).toBe(502);
  expect(err.message).toBe('GET /x: HTTP 502: Bad Gateway');
  expect(apiMessage(err)).toHaveLength(500);
  expect(statusMessage('{"kind":"Status"}')).toBeUndefined();
});

test('a network error has no HTTP status, and apiMessage gives its first line', () => {
  const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443\nmore'), { code: 'ECONNREFUSED' });
  expect(apiStatus(err)).toBeUndefined();
  expect(apiMessage(err)).toBe('connect ECONNREFUSED 127.0.0.1:6443');
});

test('a lease time has six fractional digits (the API server refuses three)', () => {
  expect(microTime(new Date('2026-12-02T14:30:05.123Z'))).toBe('2026-12-02T14:30:05.123000Z');
});

describe('DirectConnection', () => {
  const files = new Map<string, string>([
    ['/sa/token', 'token-1\n'],
    ['/sa/ca.crt', 'CA-1'],
  ]);
  let now = 0;
  const reads: string[] = [];
  const connection = () =>
    new DirectConnection(
      {
        server: 'https://10.0.0.1:443',
        ca: { file: '/sa/ca.crt' },
        token: { file: '/sa/token' },
        verifyTls: true,
      },
      {
        now: () => now,
        readFile: (file) => {
          reads.push(file);
          return Promise.resolve(Buffer.from(files.get(file)!));
        },
      },
    );

  test('a rotated token is read again after a minute, not on every request; the pool stays while the CA does', async () => {
    const c = connection();
    const first = await c.setup();
    expect(first.headers).toEqual({ authorization: 'Bearer token-1' });
    files.set('/sa/token', 'token-2');
    now = 59_000;
    expect((await c.setup()).headers.authorization).toBe('Bearer token-1');
    expect(reads).toEqual(['/sa/ca.crt', '/sa/token']);
    now = 60_000;
    const later = await c.setup();
    expect(later.headers.authorization).toBe('Bearer token-2');
    expect(later.agent).toBe(first.agent);
    files.set('/sa/ca.crt', 'CA-2');
    now = 120_000;
    const rotated = await c.setup();
    expect(rotated.agent).not.toBe(first.agent);
    expect((rotated.agent as unknown as { options: { ca: Buffer } }).options.ca.toString()).toBe('CA-2');
    c.close();
  });
});
