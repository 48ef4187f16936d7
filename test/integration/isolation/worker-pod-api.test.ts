import { adminKubectl } from '../../harness/kubectl.ts';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { API_VERSION, KIND, type WhatsAppChannel } from '../../../contract/index.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';
import { testStack } from '../../harness/stack.ts';
import { prepareNamespace, testConfig } from '../operator/fixtures.ts';

const run = promisify(execFile);
const stack = testStack();
const kubectl = adminKubectl();

/**
 * Threat group "a compromised worker pod attacks the cluster" (docs/security.md): the worker
 * pod the operator builds, created on the real API server (PodSecurity `restricted` enforced
 * on its namespace), carries no API token, and even a token minted for its ServiceAccount is
 * refused everything the worker could want.
 */
describe('worker pod has no Kubernetes API access', () => {
  const ns = `iso-pod-${randomUUID().slice(0, 6)}`;
  let pod: V1Pod;

  beforeAll(async () => {
    await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
    const channel: WhatsAppChannel = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: 'front', namespace: ns, uid: randomUUID() },
      spec: { clinicId: 'clinic-a', channelId: 'front' },
    } as WhatsAppChannel;
    const built = buildWorkerPod(
      channel,
      testConfig({ NATS_URL: 'nats://nats:4222', WA_WORKER_SERVICE_ACCOUNT: 'whatsapp-worker' }),
    );
    // No channel object exists for the owner reference here; the pod itself is what is tested.
    delete built.metadata!.ownerReferences;
    const file = join(stack.workDir, `${ns}-pod.json`);
    await writeFile(file, JSON.stringify(built));
    await kubectl('create', '-f', file);
    pod = JSON.parse((await kubectl('get', 'pod', built.metadata!.name!, '-n', ns, '-o', 'json')).stdout);
  });

  test('the API server accepted the pod under PodSecurity restricted, with no token mounted', () => {
    const spec = pod.spec!;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe('whatsapp-worker');
    // The ServiceAccount admission plugin adds a projected token volume unless automount is off.
    expect((spec.volumes ?? []).filter((v) => v.projected || v.name.startsWith('kube-api-access'))).toEqual(
      [],
    );
    const c = spec.containers[0]!;
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test("a token minted for the worker's ServiceAccount is refused pods, secrets, channels and writes", async () => {
    const token = (
      await kubectl('create', 'token', 'whatsapp-worker', '-n', ns, '--duration=10m')
    ).stdout.trim();
    const asWorker = (...args: string[]) =>
      run(stack.bins.kubectl, [
        '--kubeconfig=/dev/null',
        `--server=${stack.kube.server}`,
        `--certificate-authority=${stack.kube.caFile}`,
        `--token=${token}`,
        ...args,
      ]).then(
        () => 'allowed',
        (e: { stderr?: string }) => e.stderr ?? String(e),
      );
    // The token itself is valid: the API server knows who is asking.
    expect(await asWorker('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}')).toBe('allowed');
    for (const args of [
      ['get', 'pods', '-n', ns],
      ['get', 'pod', pod.metadata!.name!, '-n', ns],
      ['get', 'secrets', '-n', ns],
      ['get', 'whatsappchannels', '-n', ns],
      ['get', 'pods', '--all-namespaces'],
      ['create', 'secret', 'generic', 'x', '-n', ns, '--from-literal=a=b'],
    ]) {
      const outcome = await asWorker(...args);
      expect([args.join(' '), outcome]).toEqual([args.join(' '), expect.stringMatching(/forbidden/i)]);
      expect(outcome).toContain(`system:serviceaccount:${ns}:whatsapp-worker`);
    }
  });

  afterAll(async () => {
    await kubectl('delete', 'namespace', ns, '--wait=false');
  });
});
