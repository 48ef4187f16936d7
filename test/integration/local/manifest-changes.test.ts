import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalOperator, type LocalOperatorProcess } from '../../../scripts/demo/local-stack.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';

/**
 * What docs/local-mode.md says the local operator does with edits of the manifests folder,
 * on the real local operator process, its worker processes, NATS and the simulator: a worker
 * per channel, ids that cannot change (as the CRD's CEL rules make them in a cluster), suspend,
 * and removal.
 */
const manifest = (clinicId: string, extra = '') => `apiVersion: whatsapp.clinic.dev/v1alpha1
kind: WhatsAppChannel
metadata:
  name: front
  namespace: local
spec:
  clinicId: ${clinicId}
  channelId: front
${extra}`;

let dir: string;
let sim: Simulator;
let operator: LocalOperatorProcess;
const clinic = `local-${Date.now().toString(36)}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-local-'));
  sim = await startSimulator();
  await writeFile(join(dir, 'root.hex'), sim.rootPublicKey.toString('hex'));
  await writeFile(join(dir, 'front.yaml'), manifest(clinic));
  operator = await startLocalOperator({
    manifests: dir,
    stateDir: join(dir, 'state'),
    natsUrl: testStack().nats.url,
    workerEnv: { WA_WS_URL: sim.url, WA_TRUST_ROOT: join(dir, 'root.hex') },
  });
}, 60_000);

afterAll(async () => {
  await operator?.stop();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

const view = async () => (await operator.channels()).find((c) => c.key === 'local/front');

test('a worker per manifest; changed ids are refused; suspend stops the worker; removing the file removes the channel', async () => {
  await operator.waitLine(
    'the worker started',
    (l) => l.event === 'worker' && l.message === 'worker started',
  );
  const running = await eventually('the worker in status.json', async () => (await view())?.worker);

  await writeFile(join(dir, 'front.yaml'), manifest('someone-else'));
  const refused = await operator.waitLine('the id change refused', (l) =>
    String(l.message ?? '').includes('cannot change'),
  );
  expect(refused.event).toBe('problem');
  // The worker goes on as it was: same clinic, same process.
  expect(await view()).toMatchObject({ clinicId: clinic, worker: { pid: running.pid } });

  await writeFile(join(dir, 'front.yaml'), manifest(clinic, '  suspend: true\n'));
  await operator.waitLine('Suspended', (l) => l.event === 'phase' && l.phase === 'Suspended');
  await eventually('no worker', async () => ((await view())?.worker === undefined ? true : undefined));
  expect(() => process.kill(running.pid, 0)).toThrow();

  await unlink(join(dir, 'front.yaml'));
  await operator.waitLine('removed', (l) => l.event === 'removed' && l.channel === 'local/front');
  await eventually('gone from status.json', async () => ((await view()) === undefined ? true : undefined));
});

test('a worker that keeps failing at start shows Error with CrashLoopBackOff from its third failure, as a pod would', async () => {
  // A data key that is not one: the worker fails at start, every time.
  const objects = join(dir, 'state', 'objects', 'wa', clinic, 'broken');
  await mkdir(objects, { recursive: true, mode: 0o700 });
  await writeFile(join(objects, 'datakey'), 'not a data key', { mode: 0o600 });
  await writeFile(
    join(dir, 'broken.yaml'),
    manifest(clinic).replace('name: front', 'name: broken').replace('channelId: front', 'channelId: broken'),
  );
  const broken = async () => (await operator.channels()).find((c) => c.key === 'local/broken');
  const shown = await eventually(
    'Error with CrashLoopBackOff in status.json',
    async () => {
      const v = await broken();
      const running = v?.status.conditions?.find((c) => c.type === 'WorkerRunning');
      return v?.status.phase === 'Error' && running?.reason === 'CrashLoopBackOff' ? v : undefined;
    },
    60_000,
  );
  expect(shown.restarts).toBeGreaterThanOrEqual(2);
  expect(shown.status.message).toContain("see wa-broken's log");
  // The log it points to says why (docs/local-mode.md: `<state>/logs/`).
  const log = await readFile(join(dir, 'state', 'logs', `${clinic}.broken.log`), 'utf8');
  expect(log).toContain('StateObjectUnreadable');
  await unlink(join(dir, 'broken.yaml'));
  await operator.waitLine('removed', (l) => l.event === 'removed' && l.channel === 'local/broken');
});

test('two manifests with one clinicId/channelId run one worker, the older one, even if the newer file sorts first; removing it lets the other take over', async () => {
  const channel = (name: string) => `apiVersion: whatsapp.clinic.dev/v1alpha1
kind: WhatsAppChannel
metadata:
  name: ${name}
  namespace: local
spec:
  clinicId: ${clinic}
  channelId: desk
`;
  const byKey = async (key: string) => (await operator.channels()).find((c) => c.key === key);
  await writeFile(join(dir, 'desk-owner.yaml'), channel('desk-owner'));
  await eventually('the owner worker', async () => (await byKey('local/desk-owner'))?.worker);
  await writeFile(join(dir, 'desk-copy.yaml'), channel('desk-copy'));
  const copy = await eventually('the copy refused', async () => {
    const v = await byKey('local/desk-copy');
    const ready = v?.status.conditions?.find((c) => c.type === 'Ready');
    return ready?.reason === 'DuplicateChannel' && v;
  });
  expect(copy.worker).toBeUndefined();
  expect(copy.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('local/desk-owner');
  expect((await byKey('local/desk-owner'))?.worker).toBeDefined();

  await unlink(join(dir, 'desk-owner.yaml'));
  await eventually('the copy runs', async () => (await byKey('local/desk-copy'))?.worker);
  await unlink(join(dir, 'desk-copy.yaml'));
  await eventually(
    'both gone',
    async () => !(await byKey('local/desk-copy')) && !(await byKey('local/desk-owner')),
  );
});
