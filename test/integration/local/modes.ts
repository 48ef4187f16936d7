/**
 * The two ways the operator runs, behind one small interface so that one scenario runs through
 * both: `cluster` (the real operator on the real API server, its pods run by the process
 * kubelet: test/integration/e2e/product.ts) and `local` (the real local operator process,
 * manifests in a folder, workers as child processes). Both with real NATS, the WhatsApp Web
 * simulator, and real storage (MinIO + local-kms, or the local folder + key file).
 */
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { API_VERSION, KIND, type WhatsAppChannel } from '../../../contract/index.ts';
import { startLocalOperator, type LocalOperatorProcess } from '../../../scripts/demo/local-stack.ts';
import { testStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';
import { startProduct } from '../e2e/product.ts';
import { applyChannel } from '../operator/fixtures.ts';

export type ModeName = 'cluster' | 'local';
export type Spec = Partial<WhatsAppChannel['spec']> & { clinicId: string };

export interface Mode {
  sim: Simulator;
  nc: NatsConnection;
  /** Creates or updates the channel `name` (its channelId too). */
  apply(name: string, spec: Spec): Promise<void>;
  /** Deletes it (a `kubectl delete`, or the manifest file removed). */
  remove(name: string): Promise<void>;
  /** Its resource now; undefined once it is gone. */
  channel(name: string): Promise<WhatsAppChannel | undefined>;
  /** Whether a worker of it runs (a pod, or a process). */
  workerRuns(name: string): Promise<boolean>;
  /** Objects of its stored state. */
  stateObjects(clinicId: string, name: string): Promise<number>;
  /** Reasons of its Events so far. */
  eventReasons(name: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startMode(mode: ModeName, name: string): Promise<Mode> {
  return mode === 'cluster' ? startCluster(name) : startLocal(name);
}

async function startCluster(name: string): Promise<Mode> {
  const p = await startProduct(name);
  const specs = new Map<string, Spec>();
  return {
    sim: p.sim,
    nc: p.nc,
    apply: async (channel, spec) => {
      specs.set(channel, spec);
      await applyChannel(p.kubectl, testStack().workDir, p.ns, channel, spec);
    },
    remove: async (channel) => void (await p.kubectl('delete', 'wac', channel, '-n', p.ns, '--wait=false')),
    channel: (channel) =>
      p.channel(channel).catch((err: { stderr?: string }) => {
        if (/NotFound/.test(err.stderr ?? '')) return undefined;
        throw err;
      }),
    workerRuns: async (channel) => (await p.pods()).some((pod) => pod.metadata.name === `wa-${channel}`),
    stateObjects: async (clinicId, channel) =>
      (await p.storage.store.list(`wa/${clinicId}/${channel}/`)).length,
    eventReasons: async (channel) =>
      JSON.parse(
        (
          await p.kubectl(
            'get',
            'events',
            '-n',
            p.ns,
            '--field-selector',
            `involvedObject.name=${channel}`,
            '-o',
            'json',
          )
        ).stdout,
      ).items.map((e: { reason: string }) => e.reason),
    stop: () => p.stop(),
  };
}

async function startLocal(name: string): Promise<Mode> {
  const dir = await mkdtemp(join(tmpdir(), `wa-${name}-`));
  const manifests = join(dir, 'manifests');
  const stateDir = join(dir, 'state');
  await mkdir(manifests);
  const sim = await startSimulator();
  await writeFile(join(dir, 'root.hex'), sim.rootPublicKey.toString('hex'));
  const nc = await connect({ servers: testStack().nats.url });
  const operator: LocalOperatorProcess = await startLocalOperator({
    manifests,
    stateDir,
    natsUrl: testStack().nats.url,
    workerEnv: { WA_WS_URL: sim.url, WA_TRUST_ROOT: join(dir, 'root.hex') },
  });
  const view = async (channel: string) =>
    (await operator.channels()).find((c) => c.key === `local/${channel}`);
  return {
    sim,
    nc,
    // JSON is YAML: the manifest as kubectl would send it.
    apply: (channel, spec) =>
      writeFile(
        join(manifests, `${channel}.yaml`),
        JSON.stringify({
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: channel, namespace: 'local' },
          spec: { channelId: channel, ...spec },
        }),
      ),
    remove: (channel) => unlink(join(manifests, `${channel}.yaml`)),
    channel: async (channel) => {
      const v = await view(channel);
      return (
        v && ({ apiVersion: API_VERSION, kind: KIND, ...v.resource, status: v.status } as WhatsAppChannel)
      );
    },
    workerRuns: async (channel) => (await view(channel))?.worker !== undefined,
    stateObjects: async (clinicId, channel) => {
      const folder = join(stateDir, 'objects', 'wa', clinicId, channel);
      const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).length;
    },
    eventReasons: async (channel) =>
      operator.lines
        .filter((l) => l.event === 'event' && l.channel === `local/${channel}`)
        .map((l) => String(l.reason)),
    stop: async () => {
      await operator.stop();
      await nc.close();
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
