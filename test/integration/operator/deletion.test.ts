import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { channelSubjects } from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { startController, type Controller } from '../../../operator/src/controller.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace } from './fixtures.ts';
import { realStorage } from '../auth-store/fixtures.ts';

/** Deletion policies, with the real API server, MinIO and NATS (including NATS going away). */
const run = promisify(execFile);
const stack = testStack();
const storage = await realStorage('op-delete');
const kubectl = (...args: string[]) =>
  run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args]);
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
process.env.AWS_ACCESS_KEY_ID = stack.s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = stack.s3.secretAccessKey;

async function setUp(ns: string, natsUrl: string) {
  await prepareNamespace(kubectl, ns);
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  const parsed = parseOperatorConfig({
    WA_WATCH_NAMESPACE: ns,
    NATS_URL: natsUrl,
    WA_WORKER_IMAGE: 'worker:test',
    WA_S3_BUCKET: storage.bucket,
    WA_S3_ENDPOINT: stack.s3.endpoint,
    WA_KMS_KEY_ID: 'alias/wa',
    WA_DELETION_ATTEMPTS: '3',
    WA_LOGOUT_TIMEOUT_SECONDS: '2',
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const controller = await startController(kc, parsed.config, nc, pino({ level: 'silent' }));
  return { nc, controller };
}

async function createChannel(ns: string, name: string, clinicId: string) {
  await applyChannel(kubectl, stack.workDir, ns, name, { clinicId, deletionPolicy: 'Logout' });
  await eventually('the finalizer and pod', async () => {
    const { stdout } = await kubectl('get', 'pods', '-n', ns, '-o', 'name');
    return stdout.includes(`pod/wa-${name}`);
  });
  // State the worker would have written.
  for (const key of ['datakey', 'lease', 'journal/000000000001'])
    await storage.store.put(`wa/${clinicId}/${name}/${key}`, Buffer.from('x'));
}
const stateLeft = async (clinicId: string, name: string) =>
  (await storage.store.list(`wa/${clinicId}/${name}/`)).length;
const channelGone = (ns: string) => async () =>
  JSON.parse((await kubectl('get', 'wac', '-n', ns, '-o', 'json')).stdout).items.length === 0;

describe('deletion policy Logout', () => {
  let controller: Controller | undefined;
  let nc: NatsConnection | undefined;
  afterEach(async () => {
    controller?.stop();
    await nc?.close();
  });

  test('logs the worker out, removes the pod, erases the state in S3, then releases the finalizer', async () => {
    const ns = `del-${Date.now().toString(36)}`;
    ({ nc, controller } = await setUp(ns, stack.nats.url));
    await createChannel(ns, 'leaving', 'clinic-del');
    const logouts: string[] = [];
    nc.subscribe(channelSubjects('clinic-del', 'leaving').command('logout'), {
      callback: (_e, m) => {
        logouts.push(m.subject);
        m.respond(JSON.stringify({ v: 1, ok: true, result: {} }));
      },
    });
    await nc.flush();
    expect(await stateLeft('clinic-del', 'leaving')).toBe(3);
    await kubectl('delete', 'wac', 'leaving', '-n', ns, '--wait=false');
    await eventually('the channel gone', channelGone(ns));
    expect(logouts).toHaveLength(1);
    expect(await stateLeft('clinic-del', 'leaving')).toBe(0);
    const { stdout } = await kubectl('get', 'pods', '-n', ns, '-o', 'name');
    expect(stdout.trim()).toBe('');
  });

  test('with NATS down, deletion does not hang: bounded retries, then the finalizer is released', async () => {
    const ns = `deln-${Date.now().toString(36)}`;
    const own = await startNats(stack.bins.natsServer, await mkdtemp(join(tmpdir(), 'nats-down-')));
    ({ nc, controller } = await setUp(ns, own.info.url));
    await createChannel(ns, 'stranded', 'clinic-deln');
    await own.process.stop(); // NATS goes away: the logout request cannot be delivered
    const started = Date.now();
    await kubectl('delete', 'wac', 'stranded', '-n', ns, '--wait=false');
    await eventually('the channel gone despite NATS being down', channelGone(ns), 90_000);
    // The retries were bounded (3 attempts of 2 s with 1 s + 2 s backoff), not one try and not forever.
    expect(Date.now() - started).toBeGreaterThan(6_000);
    // The logout could not happen, but the state was still erased (S3 was up).
    expect(await stateLeft('clinic-deln', 'stranded')).toBe(0);
  });
});
