import { adminKubectl } from '../../harness/kubectl.ts';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection, type Subscription } from 'nats';
import pino from 'pino';
import { channelSubjects, type Condition, type WhatsAppChannel } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { KubeHttp } from '../../../operator/src/kube/http.ts';
import { namespaceClinics } from '../../../operator/src/controller/namespace-clinics.ts';
import { KubeClient } from '../../../operator/src/kube/client.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { realStorage } from '../auth-store/fixtures.ts';
import { applyChannel, prepareNamespace, testConfig } from './fixtures.ts';

/**
 * Who may run a channel's identity (docs/security.md K1-K3), on the real API server with the
 * state in real MinIO and logout requests over real NATS: the clinic rule (a channel runs only
 * in a namespace labelled with its clinic, and a relabel stops, never hands over) and the
 * duplicate rule (one clinicId/channelId, one worker: the older claim). Blocked channels and
 * their deletion never log out or erase the clinic's session.
 */
const stack = testStack();
const storage = await realStorage('op-identity');
const kubectl = adminKubectl();
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const CLINIC_LABEL = 'whatsapp.clinic.dev/clinic';
const STATE = ['datakey', 'lease', 'journal/000000000001'];

let controller: Controller | undefined;
let nc: NatsConnection;
const logoutRequests: string[] = [];
const subscriptions: Subscription[] = [];
beforeAll(async () => {
  nc = await connect({ servers: stack.nats.url });
});
afterEach(async () => {
  await controller?.stop();
  controller = undefined;
});
afterAll(async () => {
  await nc?.close();
});

/** A namespace labelled for `clinic`, and the operator (clinic rule on) watching it. */
async function setUp(ns: string, clinic: string) {
  await prepareNamespace(kubectl, ns, [`${CLINIC_LABEL}=${clinic}`]);
  controller = await startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      WA_CLINIC_NAMESPACE_CHECK: 'true',
      NATS_URL: stack.nats.url,
      WA_S3_BUCKET: storage.bucket,
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_DELETION_TIMEOUT_SECONDS: '30',
      WA_LOGOUT_TIMEOUT_SECONDS: '1',
    }),
    nc,
    pino({ level: 'silent' }),
    { namespacePollMs: 300 },
  );
}

/** Every logout request the operator sends for this identity (there must be none). */
function watchLogouts(clinicId: string, channelId: string) {
  const sub = nc.subscribe(channelSubjects(clinicId, channelId).command('logout'));
  subscriptions.push(sub);
  void (async () => {
    for await (const m of sub) logoutRequests.push(m.subject);
  })();
}
afterAll(() => subscriptions.forEach((s) => s.unsubscribe()));

const getJson = async (ns: string, ...args: string[]) =>
  JSON.parse((await kubectl('get', ...args, '-n', ns, '-o', 'json')).stdout);
const livePod = async (ns: string, name: string): Promise<V1Pod | undefined> =>
  ((await getJson(ns, 'pods')).items as V1Pod[]).find(
    (p) => p.metadata?.name === `wa-${name}` && !p.metadata?.deletionTimestamp,
  );
const anyPod = async (ns: string, name: string) =>
  ((await getJson(ns, 'pods')).items as V1Pod[]).some((p) => p.metadata?.name === `wa-${name}`);
const condition = async (ns: string, name: string, type: string): Promise<Condition | undefined> =>
  ((await getJson(ns, 'wac', name)) as WhatsAppChannel).status?.conditions?.find((c) => c.type === type);
/** Ready=False for `reason`, and (then) no worker pod at all. */
async function blocked(ns: string, name: string, reason: string): Promise<Condition> {
  const ready = await eventually(`${name}: Ready=False ${reason} and no pod`, async () => {
    const c = await condition(ns, name, 'Ready');
    return c?.status === 'False' && c.reason === reason && !(await anyPod(ns, name)) && c;
  });
  expect(await condition(ns, name, 'Stalled')).toMatchObject({ status: 'True', reason });
  return ready;
}
const eventsOf = async (ns: string, name: string) =>
  (
    (await getJson(ns, 'events', '--field-selector', `involvedObject.name=${name}`)).items as {
      reason: string;
      message: string;
    }[]
  ).map((e) => `${e.reason}: ${e.message}`);
const relabel = (ns: string, clinic: string | undefined) =>
  kubectl('label', 'namespace', ns, '--overwrite', clinic ? `${CLINIC_LABEL}=${clinic}` : `${CLINIC_LABEL}-`);
async function putState(clinicId: string, channelId: string) {
  for (const key of STATE) await storage.store.put(`wa/${clinicId}/${channelId}/${key}`, Buffer.from('x'));
}
const stateLeft = async (clinicId: string, channelId: string) =>
  (await storage.store.list(`wa/${clinicId}/${channelId}/`)).length;

test('the clinic rule: a channel of another clinic gets no worker; a relabel stops, never hands over; relabelling back resumes', async () => {
  const ns = `idk-${Date.now().toString(36)}`;
  await setUp(ns, 'clinic-a');
  watchLogouts('clinic-a', 'front');

  // A channel claiming another clinic's identity: no pod, a condition that says what to do, an Event.
  await applyChannel(kubectl, stack.workDir, ns, 'foreign', { clinicId: 'clinic-b' });
  const refused = await blocked(ns, 'foreign', 'ClinicNamespaceMismatch');
  expect(refused.message).toContain(`namespace ${ns} is labelled for clinic "clinic-a"`);
  expect(refused.message).toContain(`${CLINIC_LABEL}=clinic-b`);
  expect(await eventsOf(ns, 'foreign')).toContainEqual(expect.stringMatching(/^ClinicNamespaceMismatch: /));

  // The clinic's own channel runs.
  await applyChannel(kubectl, stack.workDir, ns, 'front', { clinicId: 'clinic-a', deletionPolicy: 'Logout' });
  const first = await eventually('the pod of front', () => livePod(ns, 'front'));
  await putState('clinic-a', 'front');

  // Relabelled to clinic-b: front stops (its state stays), and the channel that now matches runs.
  await relabel(ns, 'clinic-b');
  expect((await blocked(ns, 'front', 'ClinicNamespaceMismatch')).message).toContain(
    'is labelled for clinic "clinic-b"',
  );
  await eventually('the pod of foreign', () => livePod(ns, 'foreign'));
  expect(await stateLeft('clinic-a', 'front')).toBe(STATE.length);

  // Relabelled back: front runs again (a new pod), foreign stops.
  await relabel(ns, 'clinic-a');
  const again = await eventually('a new pod of front', () => livePod(ns, 'front'));
  expect(again.metadata!.uid).not.toBe(first.metadata!.uid);
  await blocked(ns, 'foreign', 'ClinicNamespaceMismatch');

  // No label at all: nobody runs.
  await relabel(ns, undefined);
  expect((await blocked(ns, 'front', 'ClinicNamespaceMismatch')).message).toContain('has no label');

  // Deleting the stopped Logout channel neither logs out nor erases: treated as Retain, and said so.
  await kubectl('delete', 'wac', 'front', '-n', ns, '--wait=false');
  await eventually(
    'front gone',
    async () => !(await getJson(ns, 'wac')).items.some((c: WhatsAppChannel) => c.metadata.name === 'front'),
  );
  expect(await eventsOf(ns, 'front')).toContainEqual(
    expect.stringMatching(/^DeletionPolicyRetained: deletionPolicy Logout is treated as Retain/),
  );
  expect(await stateLeft('clinic-a', 'front')).toBe(STATE.length);
  expect(logoutRequests).toEqual([]);
});

test('the duplicate rule: the older claim runs; deleting the duplicate leaves the owner alone; the owner gone, the duplicate takes over', async () => {
  const ns = `idd-${Date.now().toString(36)}`;
  await setUp(ns, 'clinic-d');
  watchLogouts('clinic-d', 'desk');

  await applyChannel(kubectl, stack.workDir, ns, 'owner', { clinicId: 'clinic-d', channelId: 'desk' });
  const ownerPod = await eventually('the owner pod', () => livePod(ns, 'owner'));
  await putState('clinic-d', 'desk');
  // Claims are ordered by creationTimestamp, which has whole seconds, then by uid: the copy is
  // created in a later second, so that the owner is the older claim whatever the uids.
  const ownerCreated = Date.parse((await getJson(ns, 'wac', 'owner')).metadata.creationTimestamp);
  while (Date.now() < ownerCreated + 1_100) await new Promise((r) => setTimeout(r, 100));

  // A second channel (another name) with the same identity, deletionPolicy Logout.
  await applyChannel(kubectl, stack.workDir, ns, 'copy', {
    clinicId: 'clinic-d',
    channelId: 'desk',
    deletionPolicy: 'Logout',
  });
  const dup = await blocked(ns, 'copy', 'DuplicateChannel');
  expect(dup.message).toContain(`already run by ${ns}/owner`);
  expect(await eventsOf(ns, 'copy')).toContainEqual(expect.stringMatching(/^DuplicateChannel: /));

  // Deleting the duplicate: the owner's session is neither logged out nor erased, its pod stays.
  await kubectl('delete', 'wac', 'copy', '-n', ns, '--wait=false');
  await eventually(
    'copy gone',
    async () => !(await getJson(ns, 'wac')).items.some((c: WhatsAppChannel) => c.metadata.name === 'copy'),
  );
  expect(await eventsOf(ns, 'copy')).toContainEqual(expect.stringMatching(/^DeletionPolicyRetained: /));
  expect(logoutRequests).toEqual([]);
  expect(await stateLeft('clinic-d', 'desk')).toBe(STATE.length);
  expect((await livePod(ns, 'owner'))?.metadata?.uid).toBe(ownerPod.metadata!.uid);

  // Another duplicate waits in line; the owner (Retain) deleted, it takes over the session.
  await applyChannel(kubectl, stack.workDir, ns, 'next', { clinicId: 'clinic-d', channelId: 'desk' });
  await blocked(ns, 'next', 'DuplicateChannel');
  await kubectl('delete', 'wac', 'owner', '-n', ns, '--wait=false');
  await eventually('the pod of next', () => livePod(ns, 'next'));
  await eventually('next no longer a duplicate', async () => {
    const ready = await condition(ns, 'next', 'Ready');
    return ready !== undefined && ready.reason !== 'DuplicateChannel';
  });
  expect(await stateLeft('clinic-d', 'desk')).toBe(STATE.length);
  expect(logoutRequests).toEqual([]);
});

test('watching every namespace: the clinic labels come from a namespace watch, and a relabel is reported for that namespace', async () => {
  // Only the namespace cache: an operator watching every namespace would reconcile other tests' channels.
  const ns = `idw-${Date.now().toString(36)}`;
  await kubectl('create', 'namespace', ns);
  await relabel(ns, 'clinic-w');
  const changed: string[] = [];
  const http = new KubeHttp(await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }));
  const clinics = namespaceClinics({
    http,
    kube: new KubeClient(http),
    watchNamespace: '',
    changed: (namespace) => changed.push(namespace),
    onProblem: () => undefined,
    resyncMs: 3_600_000,
    pollMs: 3_600_000, // not used when watching every namespace: a relabel must come from the watch
  });
  await clinics.start();
  try {
    expect(clinics.clinicOf(ns)).toBe('clinic-w');
    expect(clinics.clinicOf('kube-system')).toBeUndefined();
    changed.length = 0;
    await relabel(ns, 'clinic-x');
    await eventually('the relabel seen', async () => clinics.clinicOf(ns) === 'clinic-x');
    expect(changed).toContain(ns);
    // Another label's change is no clinic change: nothing to reconcile for it.
    changed.length = 0;
    await kubectl('label', 'namespace', ns, 'team=front');
    await relabel(ns, undefined);
    await eventually('the label removed', async () => clinics.clinicOf(ns) === undefined);
    // (Other tests create namespaces meanwhile: only this one's reports count.)
    expect(changed.filter((n) => n === ns)).toEqual([ns]);
  } finally {
    clinics.stop();
  }
});
