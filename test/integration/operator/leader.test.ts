import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/paths.ts';
import { freePort } from '../../harness/ports.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace } from './fixtures.ts';

/** Two real operator processes against the real API server: one leads, the other takes over when it dies. */
const run = promisify(execFile);
const stack = testStack();
const ns = `lead-${Date.now().toString(36)}`;
const kubectl = (...args: string[]) =>
  run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args]);
const children: ChildProcess[] = [];

async function startOperator(name: string) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'operator/src/main.ts')],
    {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: stack.kube.kubeconfig,
        POD_NAME: name,
        POD_NAMESPACE: ns,
        WA_WATCH_NAMESPACE: ns,
        NATS_URL: stack.nats.url,
        WA_WORKER_IMAGE: 'worker:test',
        WA_S3_BUCKET: 'wa-state',
        WA_KMS_KEY_ID: 'alias/wa',
        WA_LEADER_LEASE_SECONDS: '4',
        WA_HTTP_PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let logs = '';
  child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  children.push(child);
  return { child, logs: () => logs, url: `http://127.0.0.1:${port}` };
}
const channel = (name: string) => applyChannel(kubectl, stack.workDir, ns, name, { clinicId: 'clinic-l' });
const podExists = (name: string) => async () =>
  (await kubectl('get', 'pod', `wa-${name}`, '-n', ns, '-o', 'name')).stdout.trim() === `pod/wa-${name}`;

beforeAll(async () => {
  await prepareNamespace(kubectl, ns);
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

test('only the leader reconciles; when it is killed the standby takes over within the lease duration', async () => {
  const a = await startOperator('operator-a');
  await eventually('operator-a to lead', async () => a.logs().includes('became the leader'));
  const b = await startOperator('operator-b');
  await eventually('operator-b to wait', async () => b.logs().includes('waiting to become the leader'));

  await channel('one');
  await eventually('the leader to create the pod', podExists('one'));
  const lease = JSON.parse(
    (await kubectl('get', 'lease', 'whatsapp-operator-leader', '-n', ns, '-o', 'json')).stdout,
  );
  expect(lease.spec.holderIdentity).toBe('operator-a');
  expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/); // MicroTime
  expect(b.logs()).not.toContain('became the leader');
  // Both are live and ready (the standby waits healthily); the leader's metrics show its work.
  for (const op of [a, b]) expect((await fetch(`${op.url}/readyz`)).status).toBe(200);
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  expect(metrics).toMatch(/wa_operator_reconciles_total\{outcome="ok"\} [1-9]/);
  expect(metrics).toMatch(/wa_operator_api_writes_total\{kind="pod-create"\} 1/);

  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await eventually('operator-b to lead', async () => b.logs().includes('became the leader'), 30_000);
  expect(Date.now() - killedAt).toBeLessThan(15_000);
  await channel('two');
  await eventually('the new leader to create the pod', podExists('two'));
  const after = JSON.parse(
    (await kubectl('get', 'lease', 'whatsapp-operator-leader', '-n', ns, '-o', 'json')).stdout,
  );
  expect(after.spec).toMatchObject({ holderIdentity: 'operator-b', leaseTransitions: 1 });
  // Nothing was duplicated: still exactly one pod per channel.
  const pods = (await kubectl('get', 'pods', '-n', ns, '-o', 'name')).stdout.trim().split('\n').sort();
  expect(pods).toEqual(['pod/wa-one', 'pod/wa-two']);
});
