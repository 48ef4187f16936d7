import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalOperator, type LocalOperatorProcess } from '../../../scripts/demo/local-stack.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';

/**
 * Local mode keeps each channel's record (finalizer, progress, deletion request) in
 * status.json, as the API server keeps the resource: a manifest deleted while the local
 * operator was not running is still a deletion request, carried out with its policy at the
 * next start (docs/local-mode.md, "Deleting a channel").
 */
const clinic = `restart-${Date.now().toString(36)}`;
let dir: string;
let sim: Simulator;
let operator: LocalOperatorProcess | undefined;

const start = () =>
  startLocalOperator({
    manifests: join(dir, 'manifests'),
    stateDir: join(dir, 'state'),
    natsUrl: testStack().nats.url,
    workerEnv: { WA_WS_URL: sim.url, WA_TRUST_ROOT: join(dir, 'root.hex') },
  });
const stateObjects = async () =>
  (await readdir(join(dir, 'state', 'objects', 'wa', clinic, 'front'), { recursive: true }).catch(() => []))
    .length;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-restart-'));
  sim = await startSimulator();
  await writeFile(join(dir, 'root.hex'), sim.rootPublicKey.toString('hex'));
  await mkdir(join(dir, 'manifests'));
});
afterAll(async () => {
  await operator?.stop();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a manifest deleted while the local operator was stopped is deleted at its next start, with its policy (Logout: state erased)', async () => {
  await writeFile(
    join(dir, 'manifests', 'front.yaml'),
    `apiVersion: whatsapp.clinic.dev/v1alpha1
kind: WhatsAppChannel
metadata: {name: front, namespace: local}
spec: {clinicId: ${clinic}, channelId: front, deletionPolicy: Logout}
`,
  );
  operator = await start();
  await operator.waitLine('QRRequired', (l) => l.event === 'phase' && l.phase === 'QRRequired');
  const stored = await eventually('state stored', async () => (await stateObjects()) || undefined);
  expect(stored).toBeGreaterThan(0);
  await operator.stop();

  await unlink(join(dir, 'manifests', 'front.yaml'));
  operator = await start();
  await operator.waitLine('removed', (l) => l.event === 'removed' && l.channel === 'local/front');
  expect(await stateObjects()).toBe(0);
  await eventually('gone from status.json', async () => (await operator!.channels()).length === 0);
  // No worker ran to log out with: said so, as in a cluster.
  expect(operator.lines.filter((l) => l.event === 'event').map((l) => l.reason)).toEqual(['LogoutSkipped']);
  expect(operator.lines.some((l) => l.event === 'worker' && l.message === 'worker started')).toBe(false);
});
