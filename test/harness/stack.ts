import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServerBinary } from '../../local-servers/server-binary.ts';
import { ensureHadolint } from './hadolint.ts';
import { SERVERS, type ServerKey } from './catalog.ts';
import type { ManagedProcess } from './process.ts';
import { startEtcd } from './servers/etcd.ts';
import { startKms, type KmsInfo } from './servers/kms.ts';
import { startKubernetes, type KubeInfo } from './servers/kubernetes.ts';
import { startMinio, type S3Info } from './servers/minio.ts';
import { startNats, type NatsInfo } from './servers/nats.ts';

/** Everything a test needs to reach the real servers of this run. Plain JSON. */
export interface TestStack {
  workDir: string;
  nats: NatsInfo;
  s3: S3Info;
  kms: KmsInfo;
  kube: KubeInfo;
  bins: Binaries;
}

/** Paths of the server binaries and of the tools tests call (kubectl, helm, hadolint, promtool, otelcol). */
export type Binaries = Record<ServerKey | 'hadolint', string>;

export type ServerChoice = 'nats' | 's3' | 'kms' | 'kube';
export const ALL_SERVERS: readonly ServerChoice[] = ['nats', 's3', 'kms', 'kube'];

export interface RunningStack {
  stack: TestStack;
  stop(): Promise<void>;
}

/** Which binaries each server choice needs (the demo needs no Kubernetes). */
const NEEDS: Record<ServerChoice, ServerKey[]> = {
  nats: ['natsServer'],
  s3: ['minio'],
  kms: ['localKms'],
  kube: ['etcd', 'kubeApiserver', 'kubeControllerManager', 'kubectl', 'helm'],
};

/**
 * Builds every missing binary of the chosen servers (one at a time: each Go build
 * already uses every core). With every server chosen, the test tools come too.
 */
export async function ensureAllBinaries(
  log: (line: string) => void,
  choice: readonly ServerChoice[] = ALL_SERVERS,
): Promise<Binaries> {
  const bins = {} as Binaries;
  for (const key of [...new Set(choice.flatMap((c) => NEEDS[c]))]) {
    bins[key] = await ensureServerBinary(SERVERS[key], log);
  }
  if (choice.length === ALL_SERVERS.length) {
    bins.hadolint = await ensureHadolint(log);
    bins.promtool = await ensureServerBinary(SERVERS.promtool, log);
    bins.otelcol = await ensureServerBinary(SERVERS.otelcol, log);
  }
  return bins;
}

/**
 * Starts the chosen servers on free loopback ports under a fresh temporary folder.
 * If any fails to start, the ones already running are stopped before the error is thrown.
 */
export async function startStack(
  log: (line: string) => void,
  choice: readonly ServerChoice[] = ALL_SERVERS,
): Promise<RunningStack> {
  const bins = await ensureAllBinaries(log, choice);
  const workDir = await mkdtemp(join(tmpdir(), 'wa-stack-'));
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    // Reverse start order: the API server before etcd, for instance.
    for (const p of processes.reverse()) await p.stop();
    processes.length = 0;
    if (!process.env.WA_KEEP_STACK) await rm(workDir, { recursive: true, force: true });
  };
  const keep = <T extends { process: ManagedProcess }>(started: T): T => {
    processes.push(started.process);
    return started;
  };
  try {
    const want = new Set(choice);
    // allSettled, not all: when one server fails to start, the others may still be starting, and
    // stop() must run only after they have, or the ones that finish later keep running.
    const settled = await Promise.allSettled([
      want.has('nats') ? startNats(bins.natsServer, workDir).then(keep) : undefined,
      want.has('s3') ? startMinio(bins.minio, workDir).then(keep) : undefined,
      want.has('kms') ? startKms(bins.localKms, workDir).then(keep) : undefined,
      want.has('kube')
        ? startEtcd(bins.etcd, workDir)
            .then(keep)
            .then(async (etcd) => {
              const k = await startKubernetes(bins, etcd.url, workDir);
              processes.push(...k.processes.reverse());
              return k;
            })
        : undefined,
    ] as const);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const value = <T>(r: PromiseSettledResult<T>) => (r.status === 'fulfilled' ? r.value : undefined);
    const [nats, minio, kms, kube] = [
      value(settled[0]),
      value(settled[1]),
      value(settled[2]),
      value(settled[3]),
    ];
    const missing = <T>(what: string): T => ({ unavailable: what }) as T;
    const stack: TestStack = {
      workDir,
      nats: nats?.info ?? missing('nats'),
      s3: minio?.info ?? missing('s3'),
      kms: kms?.info ?? missing('kms'),
      kube: kube?.info ?? missing('kube'),
      bins,
    };
    return { stack, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Where global set-up writes the stack description for the test files. */
export const STACK_ENV = 'WA_TEST_STACK';

export async function publishStack(stack: TestStack): Promise<string> {
  const file = join(stack.workDir, 'stack.json');
  await writeFile(file, JSON.stringify(stack, null, 2), { mode: 0o600 });
  process.env[STACK_ENV] = file;
  return file;
}

let cached: TestStack | undefined;

/** The servers of this test run. Throws (never skips) when the run has none. */
export function testStack(): TestStack {
  if (cached) return cached;
  const file = process.env[STACK_ENV];
  if (!file) {
    throw new Error(
      `${STACK_ENV} is not set: integration tests run through jest's integration project (npm test)`,
    );
  }
  cached = JSON.parse(readFileSync(file, 'utf8')) as TestStack;
  return cached;
}
