import { adminKubectl } from '../../harness/kubectl.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { freePort } from '../../harness/ports.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace } from './fixtures.ts';

/**
 * Real operator processes (`node operator/src/main.ts`) against the real API server and
 * NATS: configuration errors, leader election between two replicas, hand-over when the
 * leader is killed or stopped, metrics and health endpoints.
 */
const stack = testStack();
const ns = `lead-${Date.now().toString(36)}`;
const kubectl = adminKubectl();
const children: NodeChild[] = [];

interface Operator extends NodeChild {
  url: string;
}

async function startOperator(
  name: string,
  extraEnv: Record<string, string> = {},
  args: string[] = [],
): Promise<Operator> {
  const port = await freePort();
  const operator = spawnNode(
    'operator/src/main.ts',
    {
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
      ...extraEnv,
    },
    args,
  );
  children.push(operator);
  return { ...operator, url: `http://127.0.0.1:${port}` };
}
const channel = (name: string) => applyChannel(kubectl, stack.workDir, ns, name, { clinicId: 'clinic-l' });
const podExists = (name: string) => async () =>
  (await kubectl('get', 'pod', `wa-${name}`, '-n', ns, '-o', 'name')).stdout.trim() === `pod/wa-${name}`;
const lease = async () =>
  JSON.parse((await kubectl('get', 'lease', 'whatsapp-operator-leader', '-n', ns, '-o', 'json')).stdout).spec;
const metric = async (op: Operator, pattern: RegExp) => {
  const m = (await (await fetch(`${op.url}/metrics`)).text()).match(pattern);
  return m ? Number(m[1]) : undefined;
};

beforeAll(async () => {
  // The clinic's namespace, labelled as the clinic rule (on by default) asks.
  await prepareNamespace(kubectl, ns, ['whatsapp.clinic.dev/clinic=clinic-l']);
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

test('invalid configuration: exit code 2 and every problem listed, flags named as flags', async () => {
  const op = await startOperator('bad', { NATS_URL: '', WA_S3_BUCKET: 'Bad_Bucket' }, ['--concurrency=0']);
  expect(await op.exited).toBe(2);
  expect(op.logs()).toContain('operator configuration is invalid');
  expect(op.logs()).toContain('NATS_URL (or --nats-url) is required');
  expect(op.logs()).toContain('WA_S3_BUCKET="Bad_Bucket" is not valid');
  expect(op.logs()).toContain('--concurrency="0" must be an integer from 1 to 256');
  const help = await startOperator('help', {}, ['--help']);
  expect(await help.exited).toBe(0);
  expect(help.logs()).toMatch(/--watch-namespace\s+WA_WATCH_NAMESPACE/);
});

test('only the leader reconciles; a stopped leader hands over at once, a killed one within the lease duration', async () => {
  const a = await startOperator('operator-a');
  await eventually('operator-a to lead', async () => a.logs().includes('became the leader'));
  const b = await startOperator('operator-b');
  await eventually('operator-b to wait', async () => b.logs().includes('waiting to become the leader'));

  await channel('one');
  await eventually('the leader to create the pod', podExists('one'));
  const held = await lease();
  expect(held.holderIdentity).toBe('operator-a');
  expect(held.renewTime).toMatch(/\.\d{6}Z$/); // MicroTime
  // Both are live and ready (the standby waits healthily); only the leader reconciled.
  for (const op of [a, b]) {
    expect((await fetch(`${op.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${op.url}/readyz`)).status).toBe(200);
  }
  expect(await metric(a, /wa_operator_reconciles_total\{outcome="ok"\} (\d+)/)).toBeGreaterThan(0);
  expect(await metric(a, /wa_operator_api_writes_total\{kind="pod-create"\} (\d+)/)).toBe(1);
  expect(await metric(a, /wa_operator_queue_depth (\d+)/)).toBeDefined();
  expect(await metric(a, /wa_operator_channels\{phase="Pending"\} (\d+)/)).toBe(1);
  expect(await metric(a, /wa_operator_reconcile_duration_seconds_count (\d+)/)).toBeGreaterThan(0);
  const standby = await (await fetch(`${b.url}/metrics`)).text();
  expect(standby).toMatch(/^wa_operator_process_resident_memory_bytes \d+/m); // a standby is observable too
  expect(standby).not.toMatch(/^wa_operator_reconciles_total\{/m); // but it reconciled nothing
  expect(b.logs()).not.toContain('became the leader');

  // Graceful: SIGTERM finishes work, releases the lease, exits 0; the standby leads at once.
  a.child.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  expect(a.logs()).toContain('"msg":"stopped"');
  const released = await lease();
  expect(released.holderIdentity ?? 'operator-b').toBe('operator-b');
  await eventually('operator-b to lead', async () => b.logs().includes('became the leader'), 10_000);
  await channel('two');
  await eventually('the new leader to create the pod', podExists('two'));

  // Crash: a killed leader keeps its lease; a new standby takes over once it expires.
  const c = await startOperator('operator-c');
  await eventually('operator-c to wait', async () => c.logs().includes('waiting to become the leader'));
  b.child.kill('SIGKILL');
  await eventually('operator-c to lead', async () => c.logs().includes('became the leader'), 30_000);
  expect(await lease()).toMatchObject({ holderIdentity: 'operator-c', leaseTransitions: 2 });
  await channel('three');
  await eventually('the third leader to create the pod', podExists('three'));
  // Nothing was duplicated: still exactly one pod per channel.
  const pods = (await kubectl('get', 'pods', '-n', ns, '-o', 'name')).stdout.trim().split('\n').sort();
  expect(pods).toEqual(['pod/wa-one', 'pod/wa-three', 'pod/wa-two']);
  expect(await metric(c, /wa_operator_api_writes_total\{kind="pod-create"\} (\d+)/)).toBe(1);
  c.child.kill('SIGTERM');
  expect(await c.exited).toBe(0);
});

test('with NATS unreachable the leader still manages pods (status waits for NATS)', async () => {
  const closed = await freePort();
  const op = await startOperator('operator-nonats', {
    NATS_URL: `nats://127.0.0.1:${closed}`,
    WA_LEADER_LEASE_NAME: 'nonats-leader',
  });
  await eventually('it to lead', async () => op.logs().includes('became the leader'));
  await channel('no-nats');
  await eventually('its pod', podExists('no-nats'));
  op.child.kill('SIGTERM');
  expect(await op.exited).toBe(0);
});

test('WA_WORKER_EXTRA_ENV that overrides the operator or moves the WhatsApp endpoint: exit code 2, each key named', async () => {
  const op = await startOperator('extra-env', {
    WA_WORKER_EXTRA_ENV: JSON.stringify({ WA_CLINIC_ID: 'clinic-b', WA_WS_URL: 'ws://elsewhere/ws' }),
  });
  expect(await op.exited).toBe(2);
  expect(op.logs()).toContain(
    'WA_WORKER_EXTRA_ENV may not set WA_CLINIC_ID: the operator sets it for each channel',
  );
  expect(op.logs()).toContain(
    'WA_WORKER_EXTRA_ENV may not set WA_WS_URL: the operator sets it for each channel',
  );
});
