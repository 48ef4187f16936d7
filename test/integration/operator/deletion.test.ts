import { adminKubectl } from '../../harness/kubectl.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectVersionsCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import {
  GROUP,
  PLURAL,
  VERSION,
  AUDIT_STREAM,
  auditSubject,
  channelSubjects,
  validatePayload,
  type AuditEvent,
  type WhatsAppChannel,
} from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { freePort } from '../../harness/ports.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { eventually } from '../../harness/eventually.ts';
import { watchCollection } from '../../harness/kube-watch.ts';
import { testStack } from '../../harness/stack.ts';
import { openChannel, realStorage } from '../auth-store/fixtures.ts';
import {
  applyChannel,
  prepareNamespace,
  publishStatus,
  RUNNING,
  setPodStatus,
  testConfig,
} from './fixtures.ts';

/**
 * Deletion policies on the real API server, with the state in real MinIO and the worker's
 * logout over real NATS, including NATS and S3 being down (deletion must not hang).
 */
const stack = testStack();
const storage = await realStorage('op-delete');
const kubectl = adminKubectl();
process.env.AWS_ACCESS_KEY_ID = stack.s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = stack.s3.secretAccessKey;
const STATE = ['datakey', 'lease', 'journal/000000000001'];
// The bucket as docs/iam.md asks for it: versioned, so an erasure must remove every version.
const s3 = new S3Client(storage.s3Config);
await s3.send(
  new PutBucketVersioningCommand({
    Bucket: storage.bucket,
    VersioningConfiguration: { Status: 'Enabled' },
  }),
);
afterAll(() => s3.destroy());

let controller: Controller | undefined;
let nc: NatsConnection | undefined;
afterEach(async () => {
  await controller?.stop();
  await nc?.close();
  controller = undefined;
  nc = undefined;
});

/**
 * `natsUrl` undefined: NATS is never reachable. `logoutTimeoutSeconds`: how long the operator waits
 * for the logout reply (1 s keeps the NATS-down test short; a test whose logout handler looks at the
 * cluster before it answers needs longer on a loaded machine, or a late reply is a failed logout,
 * retried, and the handler sees a second one).
 */
async function setUp(
  ns: string,
  natsUrl: string | undefined,
  s3Endpoint = stack.s3.endpoint,
  logoutTimeoutSeconds = 1,
) {
  await prepareNamespace(kubectl, ns);
  if (natsUrl) nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  controller = await startOperator(ns, natsUrl, s3Endpoint, logoutTimeoutSeconds);
  return nc!;
}

/** The operator's controller for `ns` (a leader: a second one started later is the next leader). */
async function startOperator(
  ns: string,
  natsUrl: string | undefined,
  s3Endpoint = stack.s3.endpoint,
  logoutTimeoutSeconds = 1,
) {
  return startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: natsUrl ?? 'nats://127.0.0.1:4222',
      WA_S3_BUCKET: storage.bucket,
      WA_S3_ENDPOINT: s3Endpoint,
      WA_DELETION_TIMEOUT_SECONDS: '6',
      WA_LOGOUT_TIMEOUT_SECONDS: String(logoutTimeoutSeconds),
    }),
    nc ?? new Promise<NatsConnection>(() => {}),
    pino({ level: 'silent' }),
  );
}

/** A channel with its pod, the state its worker would have written, and (optionally) a linked account. */
async function createChannel(ns: string, name: string, clinicId: string, deletionPolicy: string) {
  await applyChannel(kubectl, stack.workDir, ns, name, { clinicId, deletionPolicy });
  const pod = await eventually('the pod', async () =>
    JSON.parse((await kubectl('get', 'pods', '-n', ns, '-o', 'json')).stdout).items.find(
      (p: { metadata: { name: string } }) => p.metadata.name === `wa-${name}`,
    ),
  );
  for (const key of STATE) await storage.store.put(`wa/${clinicId}/${name}/${key}`, Buffer.from('x'));
  return pod;
}
const stateLeft = async (clinicId: string, name: string) =>
  (await storage.store.list(`wa/${clinicId}/${name}/`)).length;
/** Every version and delete marker under the channel's prefix. */
const versionsLeft = async (clinicId: string, name: string) => {
  const page = await s3.send(
    new ListObjectVersionsCommand({ Bucket: storage.bucket, Prefix: `wa/${clinicId}/${name}/` }),
  );
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => v.Key!);
};
const channelGone = (ns: string) => async () =>
  JSON.parse((await kubectl('get', 'wac', '-n', ns, '-o', 'json')).stdout).items.length === 0;
const eventReasons = async (ns: string) =>
  JSON.parse((await kubectl('get', 'events', '-n', ns, '-o', 'json')).stdout).items.map(
    (e: { reason: string }) => e.reason,
  );

/** Records every Ready condition the channels of `ns` show, until stopped. */
async function recordReady(ns: string) {
  const seen: string[] = [];
  // Every change, however long the deletion takes (test/harness/kube-watch.ts).
  const watch = await watchCollection<WhatsAppChannel>(
    stack.kube.kubeconfig,
    `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`,
    (wac) => {
      const ready = wac.status?.conditions?.find((c) => c.type === 'Ready');
      const stalled = wac.status?.conditions?.find((c) => c.type === 'Stalled');
      if (ready) seen.push(`${ready.reason}|${stalled?.status}|${ready.message}`);
    },
  );
  return { seen, stop: () => watch.stop() };
}

test('Logout: logs the worker out, removes the pod, erases the state in S3, then releases the finalizer', async () => {
  const ns = `del-${Date.now().toString(36)}`;
  // Its logout handler runs kubectl and lists S3 before it answers.
  const conn = await setUp(ns, stack.nats.url, stack.s3.endpoint, 5);
  const pod = await createChannel(ns, 'leaving', 'clinic-del', 'Logout');
  await setPodStatus(kubectl, pod, RUNNING);
  publishStatus(conn, pod, 'Connected', 1, { account: '5511987654321:1@s.whatsapp.net' });
  await eventually(
    'Connected',
    async () =>
      JSON.parse((await kubectl('get', 'wac', 'leaving', '-n', ns, '-o', 'json')).stdout).status?.phase ===
      'Connected',
  );
  const order: string[] = [];
  conn.subscribe(channelSubjects('clinic-del', 'leaving').command('logout'), {
    callback: async (_e, m) => {
      const podThen = await kubectl('get', 'pod', 'wa-leaving', '-n', ns, '-o', 'name').then(
        (r) => r.stdout.trim(),
        () => 'gone',
      );
      order.push(`logout while ${podThen}; state objects ${await stateLeft('clinic-del', 'leaving')}`);
      m.respond(JSON.stringify({ v: 1, ok: true, result: {} }));
    },
  });
  // The platform's view of the audit trail (docs/security.md, "Audit").
  const audit: AuditEvent[] = [];
  conn.subscribe(auditSubject('clinic-del', 'leaving'), { callback: (_e, m) => audit.push(m.json()) });
  await conn.flush();
  expect(await stateLeft('clinic-del', 'leaving')).toBe(3);
  await kubectl('delete', 'wac', 'leaving', '-n', ns, '--wait=false');
  await eventually('the channel gone', channelGone(ns));
  await eventually('the erasure on the audit trail', async () => audit.length > 0);
  expect(audit).toEqual([
    expect.objectContaining({
      source: 'operator',
      actor: 'operator',
      action: 'state.erased',
      outcome: 'ok',
      details: { objects: 3, resource: `${ns}/leaving` },
    }),
  ]);
  expect(validatePayload('audit', audit[0]).ok).toBe(true);
  // The operator's audit stream stored it as well: it is on the trail whoever was listening.
  const jsm = await conn.jetstreamManager();
  const stored = await jsm.streams.getMessage(AUDIT_STREAM, {
    last_by_subj: auditSubject('clinic-del', 'leaving'),
  });
  expect(stored.json()).toEqual(audit[0]);
  // The logout came first, through the running worker, before anything was erased.
  expect(order).toEqual(['logout while pod/wa-leaving; state objects 3']);
  expect(await stateLeft('clinic-del', 'leaving')).toBe(0);
  expect((await kubectl('get', 'pods', '-n', ns, '-o', 'name')).stdout.trim()).toBe('');
  expect(await eventReasons(ns)).toContain('LoggedOut');
});

test('Logout after a quarantine: the quarantined copies and every version of the channel are erased', async () => {
  const ns = `delq-${Date.now().toString(36)}`;
  const conn = await setUp(ns, stack.nats.url);
  // The worker's real state, set aside by a quarantine (WhatsApp logged the device out) and
  // started over; the older versions stay in the versioned bucket.
  const { state, lease } = await openChannel(storage, 'clinic-delq', 'relinked', 'pod-1');
  await state.keys.set({ session: { s1: Buffer.from('old device') } } as never);
  await state.saveCreds();
  const quarantined = await state.quarantine('logged out by WhatsApp (401)');
  await lease.release();
  await createChannel(ns, 'relinked', 'clinic-delq', 'Logout');
  conn.subscribe(channelSubjects('clinic-delq', 'relinked').command('logout'), {
    callback: (_e, m) => m.respond(JSON.stringify({ v: 1, ok: true, result: {} })),
  });
  const audit: AuditEvent[] = [];
  conn.subscribe(auditSubject('clinic-delq', 'relinked'), { callback: (_e, m) => audit.push(m.json()) });
  await conn.flush();
  const before = await versionsLeft('clinic-delq', 'relinked');
  expect(before.filter((k) => k.startsWith(quarantined)).length).toBeGreaterThan(1);
  expect(before.length).toBeGreaterThan(new Set(before).size);

  await kubectl('delete', 'wac', 'relinked', '-n', ns, '--wait=false');
  await eventually('the channel gone', channelGone(ns));
  await eventually('the erasure on the audit trail', async () => audit.length > 0);
  expect(audit[0]).toMatchObject({
    action: 'state.erased',
    outcome: 'ok',
    details: { objects: before.length },
  });
  expect(await versionsLeft('clinic-delq', 'relinked')).toEqual([]);
});

test('Retain: no logout, the state stays in S3, the pod goes and the finalizer is released', async () => {
  const ns = `delr-${Date.now().toString(36)}`;
  const conn = await setUp(ns, stack.nats.url);
  await createChannel(ns, 'kept', 'clinic-ret', 'Retain');
  const logouts: string[] = [];
  conn.subscribe(channelSubjects('clinic-ret', 'kept').command('logout'), {
    callback: (_e, m) => logouts.push(m.subject),
  });
  await kubectl('delete', 'wac', 'kept', '-n', ns, '--wait=false');
  await eventually('the channel gone', channelGone(ns));
  expect(logouts).toEqual([]);
  expect(await stateLeft('clinic-ret', 'kept')).toBe(3);
  expect((await kubectl('get', 'pods', '-n', ns, '-o', 'name')).stdout.trim()).toBe('');
});

test('Logout with NATS down: LogoutFailed in the status while it retries, then it gives up and the deletion finishes', async () => {
  const ns = `deln-${Date.now().toString(36)}`;
  const own = await startNats(stack.bins.natsServer, await mkdtemp(join(tmpdir(), 'nats-down-')));
  await setUp(ns, own.info.url);
  await createChannel(ns, 'stranded', 'clinic-deln', 'Logout');
  await own.process.stop(); // NATS goes away: the logout request cannot be delivered
  const ready = await recordReady(ns);
  await kubectl('delete', 'wac', 'stranded', '-n', ns, '--wait=false');
  await eventually('the channel gone despite NATS being down', channelGone(ns), 60_000);
  ready.stop();
  expect(ready.seen.some((s) => /^LogoutFailed\|True\|deleting: logout request failed/.test(s))).toBe(true);
  expect(
    ready.seen.some((s) => /^LogoutAbandoned\|True\|.*remove it in WhatsApp > Linked devices/.test(s)),
  ).toBe(true);
  // The logout could not happen, but the state was still erased (S3 was up).
  expect(await stateLeft('clinic-deln', 'stranded')).toBe(0);
});

test('Logout with S3 down: EraseFailed in the status while it retries, then EraseAbandoned and the finalizer is released', async () => {
  const ns = `dels-${Date.now().toString(36)}`;
  const conn = await setUp(ns, stack.nats.url, `http://127.0.0.1:${await freePort()}`);
  await createChannel(ns, 'unerased', 'clinic-dels', 'Logout');
  conn.subscribe(channelSubjects('clinic-dels', 'unerased').command('logout'), {
    callback: (_e, m) => m.respond(JSON.stringify({ v: 1, ok: true, result: {} })),
  });
  await conn.flush();
  const ready = await recordReady(ns);
  await kubectl('delete', 'wac', 'unerased', '-n', ns, '--wait=false');
  await eventually('the channel gone despite S3 being down', channelGone(ns), 60_000);
  ready.stop();
  expect(
    ready.seen.some((s) => /^EraseFailed\|True\|deleting: erasing the stored state failed/.test(s)),
  ).toBe(true);
  expect(ready.seen.some((s) => /^EraseAbandoned\|True\|.*delete them by hand/.test(s))).toBe(true);
  expect(await stateLeft('clinic-dels', 'unerased')).toBe(3); // really not erased: the real S3 was never reached
});

test('deleting a namespace with channels while NATS is down finishes (bounded), erasing what it can', async () => {
  const ns = `delns-${Date.now().toString(36)}`;
  await setUp(ns, undefined);
  await createChannel(ns, 'one', 'clinic-delns', 'Logout');
  await createChannel(ns, 'two', 'clinic-delns', 'Retain');
  await kubectl('delete', 'namespace', ns, '--wait=false');
  await eventually(
    'the namespace gone',
    async () =>
      await kubectl('get', 'namespace', ns).then(
        () => false,
        (e: { stderr: string }) => /NotFound/.test(e.stderr),
      ),
    90_000,
  );
  expect(await stateLeft('clinic-delns', 'one')).toBe(0);
  expect(await stateLeft('clinic-delns', 'two')).toBe(3);
});

test('a leader change in the middle of a Logout deletion carries on from the recorded step: one logout, one erasure', async () => {
  const ns = `delf-${Date.now().toString(36)}`;
  const conn = await setUp(ns, stack.nats.url);
  const pod = await createChannel(ns, 'handed-over', 'clinic-delf', 'Logout');
  await setPodStatus(kubectl, pod, RUNNING);
  // The test holds the pod in Terminating (as a slow kubelet would), so the first leader stops
  // after the logout and before the erasure.
  await kubectl(
    'patch',
    'pod',
    pod.metadata.name,
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":["test.example/hold"]}}',
  );
  let logouts = 0;
  conn.subscribe(channelSubjects('clinic-delf', 'handed-over').command('logout'), {
    callback: (_e, m) => {
      logouts++;
      m.respond(JSON.stringify({ v: 1, ok: true, result: {} }));
    },
  });
  const audit: AuditEvent[] = [];
  conn.subscribe(auditSubject('clinic-delf', 'handed-over'), { callback: (_e, m) => audit.push(m.json()) });
  await conn.flush();
  await kubectl('delete', 'wac', 'handed-over', '-n', ns, '--wait=false');
  const progress = await eventually('the logout recorded on the channel, and the pod stopping', async () => {
    const wac = JSON.parse((await kubectl('get', 'wac', 'handed-over', '-n', ns, '-o', 'json')).stdout);
    const stopping = JSON.parse(
      (await kubectl('get', 'pod', pod.metadata.name, '-n', ns, '-o', 'json')).stdout,
    ).metadata.deletionTimestamp;
    return stopping && wac.metadata.annotations?.['progress.whatsapp.clinic.dev/logout'];
  });
  expect(progress).toBe('done');

  // The leader goes; another one takes over with nothing in memory.
  await controller!.stop();
  controller = await startOperator(ns, stack.nats.url);
  await kubectl(
    'patch',
    'pod',
    pod.metadata.name,
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":null}}',
  );
  await eventually('the channel gone', channelGone(ns));
  await eventually('the erasure on the audit trail', async () => audit.length > 0);
  expect(logouts).toBe(1);
  expect(audit.map((a) => a.action)).toEqual(['state.erased']);
  expect(await stateLeft('clinic-delf', 'handed-over')).toBe(0);
  expect((await eventReasons(ns)).filter((r: string) => r === 'LoggedOut')).toHaveLength(1);
});
