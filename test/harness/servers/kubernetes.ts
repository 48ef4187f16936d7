import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { ManagedProcess } from '../process.ts';
import { freePort } from '../ports.ts';
import { createControlPlanePki } from './pki.ts';

export interface KubeInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  caFile: string;
  /** Bearer token of a cluster-admin user (group system:masters). */
  token: string;
  /** A kubeconfig for kubectl/helm with that user. */
  kubeconfig: string;
}

export interface Binaries {
  kubeApiserver: string;
  kubeControllerManager: string;
}

/**
 * kube-apiserver (RBAC, the default admission plugins including PodSecurity and
 * ServiceAccount) plus kube-controller-manager with only the controllers an operator
 * relies on: garbage collection of owned objects, namespace deletion and service
 * accounts. There is no scheduler and no kubelet: pods are stored, never run, and
 * tests play the kubelet by writing pod status themselves.
 */
/**
 * The kube-apiserver flags both test control planes share (this one and the one-node cluster's,
 * node/control-plane.ts): TLS from the harness PKI, static tokens, service-account signing, and
 * the features a test server does without. Authorization, ranges and ports differ per caller.
 */
export function apiServerSecurityArgs(
  pki: Awaited<ReturnType<typeof createControlPlanePki>>,
  tokenFile: string,
  dir: string,
): string[] {
  return [
    `--tls-cert-file=${pki.serverCertFile}`,
    `--tls-private-key-file=${pki.serverKeyFile}`,
    `--client-ca-file=${pki.caFile}`,
    `--token-auth-file=${tokenFile}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
    `--service-account-signing-key-file=${pki.serviceAccountPrivateKeyFile}`,
    '--profiling=false',
    '--enable-priority-and-fairness=false',
    `--cert-dir=${join(dir, 'certs')}`,
  ];
}

export async function startKubernetes(
  bins: Binaries,
  etcdUrl: string,
  workDir: string,
): Promise<{ processes: ManagedProcess[]; info: KubeInfo }> {
  const dir = join(workDir, 'kube');
  await mkdir(dir, { recursive: true });
  const pki = await createControlPlanePki(dir);
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  await writeFile(tokenFile, `${token},wa-test-admin,wa-test-admin,"system:masters"\n`, { mode: 0o600 });

  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const ca = await readFile(pki.caFile);
  const apiserver = await ManagedProcess.start({
    name: 'kube-apiserver',
    command: bins.kubeApiserver,
    args: [
      `--etcd-servers=${etcdUrl}`,
      // Each run gets its own prefix, so a reused etcd never leaks objects between runs.
      `--etcd-prefix=/registry-${randomBytes(4).toString('hex')}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      ...apiServerSecurityArgs(pki, tokenFile, dir),
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none',
    ],
    logFile: join(dir, 'kube-apiserver.log'),
    ready: () => httpsOk(`${server}/readyz`, ca, token),
    readyTimeoutMs: 120_000,
  });

  const kubeconfig = join(dir, 'admin.kubeconfig');
  await writeFile(kubeconfig, kubeconfigYaml(server, pki.caFile, token), { mode: 0o600 });

  // If the controller manager does not come up, the API server must not outlive this call.
  const controllerManager = await startControlPlaneComponent({
    name: 'kube-controller-manager',
    command: bins.kubeControllerManager,
    kubeconfig,
    dir,
    logName: 'kube-controller-manager',
    args: [
      '--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller',
      `--service-account-private-key-file=${pki.serviceAccountPrivateKeyFile}`,
      `--root-ca-file=${pki.caFile}`,
      '--use-service-account-credentials=false',
      `--cert-dir=${join(dir, 'kcm-certs')}`,
    ],
  }).catch(async (err: unknown) => {
    await apiserver.stop();
    throw err;
  });

  return {
    processes: [controllerManager, apiserver],
    info: { server, caFile: pki.caFile, token, kubeconfig },
  };
}

/**
 * A control-plane component that reads the API server through a kubeconfig (the controller
 * manager, the scheduler): the flags both test control planes give every such component, plus
 * its own. Ready once its /healthz answers (its serving certificate is self-signed, so only
 * liveness is asked).
 */
export async function startControlPlaneComponent(o: {
  name: string;
  command: string;
  kubeconfig: string;
  dir: string;
  logName: string;
  args: string[];
}): Promise<ManagedProcess> {
  const port = await freePort();
  return ManagedProcess.start({
    name: o.name,
    command: o.command,
    args: [
      `--kubeconfig=${o.kubeconfig}`,
      `--authentication-kubeconfig=${o.kubeconfig}`,
      `--authorization-kubeconfig=${o.kubeconfig}`,
      ...o.args,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
    ],
    logFile: join(o.dir, `${o.logName}.log`),
    ready: () => httpsOk(`https://127.0.0.1:${port}/healthz`, undefined, undefined),
    readyTimeoutMs: 60_000,
  });
}

export function kubeconfigYaml(
  server: string,
  caFile: string,
  token: string,
  user = 'wa-test-admin',
): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: wa-test
  cluster:
    server: ${server}
    certificate-authority: ${caFile}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: wa-test
  context:
    cluster: wa-test
    user: ${user}
current-context: wa-test
`;
}

/** GET over HTTPS; with no CA given, the certificate is not verified (readiness of self-signed endpoints only). */
export function httpsOk(url: string, ca: Buffer | undefined, token: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca,
        rejectUnauthorized: ca !== undefined,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: 2_000,
      },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 300);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
