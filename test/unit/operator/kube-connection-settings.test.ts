import {
  inClusterSettings,
  kubeconfigSettings,
  type SettingsOrFallback,
} from '../../../operator/src/kube/connection-settings.ts';

/** A kubeconfig with one context; `cluster` and `user` are merged into its entries. */
const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Config',
  'current-context': 'ctx',
  contexts: [
    { name: 'other', context: { cluster: 'wrong', user: 'wrong' } },
    { name: 'ctx', context: { cluster: 'c', user: 'u' } },
  ],
  clusters: [
    { name: 'wrong', cluster: { server: 'https://wrong:1' } },
    { name: 'c', cluster: { server: 'https://api.example:6443/', ...cluster } },
  ],
  users: [{ name: 'u', user }],
});

const settingsOf = (r: SettingsOrFallback) => {
  if (!('settings' in r)) throw new Error(`fell back: ${r.fallback}`);
  return r.settings;
};
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a bearer token and inline CA: the current context picks the cluster and user, the trailing slash goes', () => {
  const s = settingsOf(
    kubeconfigSettings(
      kubeconfig({ 'certificate-authority-data': b64('CA PEM') }, { token: 'secret-token' }),
      '/home/me/.kube',
    ),
  );
  expect(s.server).toBe('https://api.example:6443');
  expect(s.verifyTls).toBe(true);
  expect(s.ca).toEqual({ data: Buffer.from('CA PEM') });
  expect(s.token).toEqual({ data: Buffer.from('secret-token') });
  expect(s.cert).toBeUndefined();
});

test('a client certificate and key from files: relative paths are relative to the kubeconfig folder', () => {
  const s = settingsOf(
    kubeconfigSettings(
      kubeconfig(
        { 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' },
        { 'client-certificate': 'certs/me.crt', 'client-key': '/abs/me.key' },
      ),
      '/home/me/.kube',
    ),
  );
  expect(s.ca).toEqual({ file: '/home/me/.kube/ca.crt' });
  expect(s.cert).toEqual({ file: '/home/me/.kube/certs/me.crt' });
  expect(s.key).toEqual({ file: '/abs/me.key' });
  expect(s.servername).toBe('kubernetes');
  expect(s.token).toBeUndefined();
});

test('inline certificate data wins over a path; a token file is read later, not here', () => {
  const s = settingsOf(
    kubeconfigSettings(
      kubeconfig(
        { 'insecure-skip-tls-verify': true },
        {
          'client-certificate-data': b64('CERT'),
          'client-certificate': 'ignored.crt',
          'client-key-data': b64('KEY'),
          tokenFile: 'token',
        },
      ),
      '/cfg',
    ),
  );
  expect(s.verifyTls).toBe(false);
  expect(s.cert).toEqual({ data: Buffer.from('CERT') });
  expect(s.key).toEqual({ data: Buffer.from('KEY') });
  expect(s.token).toEqual({ file: '/cfg/token' });
});

test.each([
  ['exec', {}, { exec: { command: 'aws', args: ['eks', 'get-token'] } }],
  ['auth-provider', {}, { 'auth-provider': { name: 'oidc', config: {} } }],
  ['username', {}, { username: 'admin', password: 'p' }],
  ['as', {}, { token: 't', as: 'someone' }],
  ['proxy-url', { 'proxy-url': 'http://proxy:3128' }, { token: 't' }],
])('%s: falls back to client-node, naming what it saw', (what, cluster, user) => {
  const r = kubeconfigSettings(kubeconfig(cluster, user), '/cfg');
  expect(r).toEqual({ fallback: `kubeconfig uses ${what}` });
});

test('bad kubeconfigs are refused with an error that says what is missing', () => {
  const doc = kubeconfig({}, { token: 't' });
  expect(() => kubeconfigSettings({ ...doc, 'current-context': 'nope' }, '/')).toThrow(
    'current-context "nope" not found',
  );
  expect(() => kubeconfigSettings({ ...doc, clusters: [] }, '/')).toThrow('cluster "c" not found');
  expect(() => kubeconfigSettings(kubeconfig({ server: '' }, { token: 't' }), '/')).toThrow('has no server');
  expect(() => kubeconfigSettings(kubeconfig({ server: 'http://plain:8080' }, {}), '/')).toThrow(
    'insecure-skip-tls-verify',
  );
  expect(() => kubeconfigSettings(kubeconfig({}, { 'client-certificate-data': b64('C') }), '/')).toThrow(
    'needs its key',
  );
  expect(() => kubeconfigSettings('just a string', '/')).toThrow('not a YAML mapping');
});

test('in-cluster: the service host and port, the mounted CA and token (read again as it rotates)', () => {
  expect(
    inClusterSettings({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, '/sa'),
  ).toEqual({
    server: 'https://10.96.0.1:443',
    ca: { file: '/sa/ca.crt' },
    token: { file: '/sa/token' },
    verifyTls: true,
  });
  expect(
    inClusterSettings({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '8080' }).server,
  ).toBe('http://[fd00::1]:8080');
  expect(() => inClusterSettings({ KUBERNETES_SERVICE_PORT: '443' })).toThrow('KUBERNETES_SERVICE_HOST');
});
