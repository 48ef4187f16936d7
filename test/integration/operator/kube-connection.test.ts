import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { apiMessage, apiStatus, KubeClient } from '../../../operator/src/kube/client.ts';
import {
  ClientNodeConnection,
  DirectConnection,
  loadKubeConnection,
} from '../../../operator/src/kube/connection.ts';
import { KubeHttp } from '../../../operator/src/kube/http.ts';
import { testStack } from '../../harness/stack.ts';

/**
 * The operator's own client against the real API server, with each kind of kubeconfig it
 * handles itself (a bearer token; a client certificate with inline data) and one it hands to
 * client-node (an exec plugin). (In-cluster configuration: test/integration/node/product-on-node.test.ts,
 * where the operator runs in a pod with its service account.)
 */
const stack = testStack();
const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-connection-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

async function writeKubeconfig(name: string, user: string, cluster = ''): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ${stack.kube.server}
${cluster}users:
- name: u
  user:
${user}contexts:
- name: ctx
  context: { cluster: c, user: u }
current-context: ctx
`,
  );
  return file;
}

/** Reads the `default` namespace through the operator's client, and lists its pods. */
async function readThrough(kubeconfig: string, onFallback?: (reason: string) => void) {
  const connection = await loadKubeConnection({ kubeconfig, ...(onFallback ? { onFallback } : {}) });
  const requests: string[] = [];
  const kube = new KubeClient(new KubeHttp(connection), (kind) => requests.push(kind));
  const ns = await kube.getNamespace('default');
  const pods = await kube.listWorkerPods('default');
  connection.close();
  return { connection, ns, pods, requests };
}

test('a bearer token and a CA file: the operator client reads and lists, each call counted', async () => {
  const { connection, ns, pods, requests } = await readThrough(stack.kube.kubeconfig);
  expect(connection).toBeInstanceOf(DirectConnection);
  expect(ns?.metadata?.name).toBe('default');
  expect(pods.resourceVersion).toMatch(/^\d+$/);
  expect(requests).toEqual(['get-namespace', 'list-pods']);
});

test('a wrong token: a 401 whose status and message read as client-node errors did', async () => {
  const file = await writeKubeconfig(
    'wrong-token',
    '    token: not-a-valid-token\n',
    `    certificate-authority: ${stack.kube.caFile}\n`,
  );
  const err = await readThrough(file).catch((e: unknown) => e);
  expect(apiStatus(err)).toBe(401);
  expect(apiMessage(err)).toBe('Unauthorized');
});

test('a client certificate and key, and the CA, all inline (*-data)', async () => {
  // A client certificate signed by the test CA (the API server's --client-ca-file), in system:masters.
  const caKey = join(dirname(stack.kube.caFile), 'ca.key');
  const key = join(dir, 'client.key');
  const csr = join(dir, 'client.csr');
  const crt = join(dir, 'client.crt');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    '/O=system:masters/CN=wa-cert-user',
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    stack.kube.caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    crt,
    '-days',
    '1',
  ]);
  const file = await writeKubeconfig(
    'client-cert',
    `    client-certificate-data: ${b64(await readFile(crt))}\n    client-key-data: ${b64(await readFile(key))}\n`,
    `    certificate-authority-data: ${b64(await readFile(stack.kube.caFile))}\n`,
  );
  const { connection, ns } = await readThrough(file);
  expect(connection).toBeInstanceOf(DirectConnection);
  expect(ns?.metadata?.name).toBe('default');
});

test('an exec credential plugin: client-node is loaded for it, and the calls work the same', async () => {
  const credential = JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1beta1',
    kind: 'ExecCredential',
    status: { token: stack.kube.token },
  });
  const file = await writeKubeconfig(
    'exec',
    `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ${process.execPath}
      args: ["-e", ${JSON.stringify(`process.stdout.write(${JSON.stringify(credential)})`)}]
`,
    `    certificate-authority: ${stack.kube.caFile}\n`,
  );
  const fallbacks: string[] = [];
  const { connection, ns, requests } = await readThrough(file, (reason) => fallbacks.push(reason));
  expect(fallbacks).toEqual(['kubeconfig uses exec']);
  expect(connection).toBeInstanceOf(ClientNodeConnection);
  expect(ns?.metadata?.name).toBe('default');
  expect(requests).toEqual(['get-namespace', 'list-pods']);
});
