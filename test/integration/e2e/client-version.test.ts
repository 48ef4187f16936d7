import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { applyChannel } from '../operator/fixtures.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startProduct, type Product } from './product.ts';

/**
 * The WhatsApp Web client version is a fleet setting (issue: WhatsApp retires versions and then
 * refuses them all at once). On real parts — the real API server, the operator, worker processes
 * run by the process kubelet with the pods' environment, unmodified Baileys against the
 * simulator — the fleet announces version A; the simulator starts refusing A as WhatsApp does
 * (405 at login); every channel goes Stalled with a message naming A and the setting to change,
 * and tries A only once; the operator restarts with version B; every pod is replaced and logs in
 * again with its stored link: no QR code, same linked device, never two sessions.
 */
quietLibsignal();
const stack = testStack();
const clinic = 'clinic-version';
const A = '2.3000.1011';
const B = '2.3000.2022';
const CHANNELS = [
  { name: 'front-desk', phone: '15550008201' },
  { name: 'billing', phone: '15550008202' },
] as const;
let p: Product;

const condition = (c: WhatsAppChannel, type: string) => c.status?.conditions?.find((x) => x.type === type);
/** Connection records of a device with the version it announced and how each ended. */
const attempts = (device: string, version: string) =>
  p.sim.connections.records(device).filter((r) => r.version === version);

beforeAll(async () => {
  p = await startProduct('e2e-version', { WA_WORKER_WA_WEB_VERSION: A });
}, 60_000);
afterAll(async () => p?.stop());

test('version A refused → Stalled naming A, one attempt each → the operator moves to B → Connected again without a QR', async () => {
  // Two channels of the fleet, paired and connected with version A.
  const devices = new Map<string, string>();
  const watches = new Map<string, ChannelWatch>();
  for (const { name, phone } of CHANNELS) {
    const watch = await ChannelWatch.start(p.nc, clinic, name);
    watches.set(name, watch);
    await applyChannel(p.kubectl, stack.workDir, p.ns, name, { clinicId: clinic });
    const qr = await watch.waitQr();
    devices.set(name, await p.sim.phone(phone).scanQr(qr.qr!));
  }
  for (const { name } of CHANNELS) {
    await eventually(
      `${name} Connected with version ${A}`,
      async () => {
        const c = await p.channel(name);
        return c.status?.phase === 'Connected' && c.status.waWebVersion === A ? c : undefined;
      },
      60_000,
    );
    const device = devices.get(name)!;
    expect(p.sim.connections.live(device).map((r) => r.version)).toEqual([A]);
  }
  const wide = await p.kubectl('get', 'wac', '-n', p.ns, '-o', 'wide');
  const [header, ...rows] = wide.stdout.trim().split('\n');
  expect(header).toMatch(/\sWA VERSION\s/);
  expect(rows).toHaveLength(CHANNELS.length);
  for (const row of rows) expect(row).toContain(` ${A} `);
  const qrsWhenLinked = new Map([...watches].map(([name, w]) => [name, w.pairing.length]));

  // WhatsApp retires A: new logins with it are refused (405). The live sessions drop, as they do
  // when WhatsApp's servers restart, and every worker's reconnect announces A again.
  p.sim.setClientVersions({ refused: [A] });
  for (const device of devices.values()) expect(p.sim.endSession(device, 'dropped')).toBe(1);

  for (const { name } of CHANNELS) {
    const stalled = await eventually(
      `${name} Stalled with ClientVersionRejected`,
      async () => {
        const c = await p.channel(name);
        return condition(c, 'Stalled')?.reason === 'ClientVersionRejected' ? c : undefined;
      },
      60_000,
    );
    expect(stalled.status!.phase).toBe('Error');
    expect(stalled.status!.waWebVersion).toBe(A);
    expect(condition(stalled, 'Stalled')).toMatchObject({ status: 'True' });
    expect(condition(stalled, 'Ready')).toMatchObject({ status: 'False', reason: 'ClientVersionRejected' });
    // Still linked: the credentials are fine, only the version is not.
    expect(condition(stalled, 'Paired')).toMatchObject({ status: 'True' });
    const message = condition(stalled, 'Stalled')!.message;
    expect(message).toContain(`WhatsApp refused the client version ${A}`);
    expect(message).toContain('worker.waWebVersion');
    expect(message).toContain('spec.worker.waWebVersion');
    expect(stalled.status!.message).toBe(message);
  }

  // The setting moves to B: the operator is restarted with it (helm upgrade --set worker.waWebVersion=B).
  await p.restartOperator({ WA_WORKER_WA_WEB_VERSION: B });

  for (const { name } of CHANNELS) {
    const device = devices.get(name)!;
    const c = await eventually(
      `${name} Connected again with version ${B}, from a new pod`,
      async () => {
        const c = await p.channel(name);
        return c.status?.phase === 'Connected' && c.status.waWebVersion === B ? c : undefined;
      },
      90_000,
    );
    expect(c.status!.account).toBe(device);
    expect(condition(c, 'Stalled')).toMatchObject({ status: 'False' });
    // A new pod incarnation (worker = <pod>_<uid>) reports B; the one that ran A never does.
    const watch = watches.get(name)!;
    const reportsOfB = watch.status.filter((s) => s.waWebVersion === B);
    expect(reportsOfB.length).toBeGreaterThan(0);
    expect(new Set(reportsOfB.map((s) => s.worker)).size).toBe(1);
    expect(watch.status.filter((s) => s.waWebVersion === A).map((s) => s.worker)).not.toContain(
      reportsOfB[0]!.worker,
    );
    // No QR code, no pairing of any kind, after the channel was first linked.
    expect(watch.pairing.length).toBe(qrsWhenLinked.get(name));
    expect(reportsOfB.map((s) => s.phase)).not.toContain('QRRequired');
    // WhatsApp saw exactly one refused login with A per device: the worker did not loop.
    const refusedA = attempts(device, A).filter((r) => r.kind === 'rejected');
    expect(refusedA).toHaveLength(1);
    expect(refusedA[0]!.endReason).toBe('failure-405');
    expect(p.sim.connections.live(device).map((r) => r.version)).toEqual([B]);
    expect(p.sim.connections.maxConcurrent(device)).toBe(1);
  }
  // The same linked devices as before: each channel restored its session, nothing was re-paired.
  for (const { name, phone } of CHANNELS)
    expect(p.sim.phone(phone).links()).toEqual([[devices.get(name)!, false]]);
});
