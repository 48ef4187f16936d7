/**
 * Plays the kubelet for the worker pods of one namespace: the test control plane has no
 * kubelet, so pods are stored but never run. This one binds each new pod to a node of its
 * own (so that, as in a cluster, a deleted pod stays Terminating until its kubelet confirms),
 * runs the pod's worker container as a local process (`node dist/worker-bundle/main.mjs`, the bundle the image runs) with the
 * environment the pod spec declares (plain values with $(VAR) expansion, the downward API
 * fields the worker uses, and envFrom Secrets), and reports it Running. When the pod is
 * deleted it sends SIGTERM, waits for the process to exit, and only then removes the pod
 * for good — the order a real kubelet keeps, and the operator relies on (it erases a
 * channel's state only once the pod is gone). A test can also make the "node" die (SIGKILL).
 *
 * A container that exits on its own is restarted as `restartPolicy: Always` says, after a
 * doubling back-off (1 s, 2 s, 4 s, capped at 8 s: shorter than a real kubelet's 10 s → 5 min),
 * and the pod shows CrashLoopBackOff meanwhile. One thing differs from a cluster on purpose:
 * every worker gets its own free loopback port for WA_HTTP_PORT (they share one host).
 *
 * What a container runs is the worker bundle (`dist/worker-bundle/main.mjs`), unless the test maps the pod's image to
 * another program (`containerCommand`), as a registry maps a tag to an image: rollout.test.ts
 * runs its 60 channels on a stand-in (stand-in-worker.ts) and a release that cannot start.
 */
import type { Kubectl } from '../../harness/kubectl.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1EnvVar, V1Pod, V1Secret } from '@kubernetes/client-node';
import { freePort } from '../../harness/ports.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { testStack } from '../../harness/stack.ts';
import { RUNNING, setPodStatus } from '../operator/fixtures.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

export interface RunningWorker extends NodeChild {
  pod: string;
  uid: string;
}

/** The program (relative to the repository root) and arguments a pod's container runs. */
export type ContainerCommand = (pod: V1Pod) => { script: string; args?: string[] };

const WORKER: ContainerCommand = () => ({ script: WORKER_ENTRY });

export class ProcessKubelet {
  readonly workers = new Map<string, RunningWorker>();
  readonly #kubectl: Kubectl;
  readonly #ns: string;
  readonly #node = `process-node-${Math.random().toString(36).slice(2, 8)}`;
  /** Per pod uid: the resolved environment, restarts so far, when the next start is due. */
  readonly #pods = new Map<string, { env: Record<string, string>; restarts: number; restartAt?: number }>();
  /** Pods whose node died: never restarted (their pod is deleted by the test). */
  readonly #deadNodes = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> = Promise.resolve();
  #stopped = false;

  readonly #command: ContainerCommand;

  constructor(kubectl: Kubectl, ns: string, command: ContainerCommand = WORKER) {
    this.#kubectl = kubectl;
    this.#ns = ns;
    this.#command = command;
  }

  start(everyMs = 250): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#syncing = this.#sync()
        .catch((err: unknown) => {
          process.stderr.write(`process-kubelet: ${String(err)}\n`);
        })
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, everyMs);
        });
    };
    tick();
  }

  /** The node dies: the worker process is killed at once, with no chance to release anything. */
  killNode(uid: string): void {
    this.#deadNodes.add(uid);
    this.workers.get(uid)?.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#syncing;
    for (const w of this.workers.values()) w.child.kill('SIGKILL');
    await Promise.all([...this.workers.values()].map((w) => w.exited));
  }

  async #sync(): Promise<void> {
    const pods = JSON.parse((await this.#kubectl('get', 'pods', '-n', this.#ns, '-o', 'json')).stdout)
      .items as V1Pod[];
    for (const pod of pods) {
      const { uid, name, deletionTimestamp } = pod.metadata!;
      const worker = this.workers.get(uid!);
      if (deletionTimestamp) {
        // Terminating: SIGTERM once, and confirm the deletion only after the process ended.
        const running = worker && worker.child.exitCode === null && worker.child.signalCode === null;
        if (running && !worker.child.killed) worker.child.kill('SIGTERM');
        if (!running)
          await this.#kubectl('delete', 'pod', name!, '-n', this.#ns, '--grace-period=0', '--force');
        continue;
      }
      if (!worker) await this.#firstStart(pod);
      else if (worker.child.exitCode !== null || worker.child.signalCode !== null)
        await this.#restart(pod, worker);
    }
  }

  /** restartPolicy Always: back off, show CrashLoopBackOff, start the container again. */
  async #restart(pod: V1Pod, exited: RunningWorker): Promise<void> {
    const uid = pod.metadata!.uid!;
    const state = this.#pods.get(uid)!;
    if (this.#deadNodes.has(uid)) return;
    if (state.restartAt === undefined) {
      state.restarts++;
      state.restartAt = Date.now() + Math.min(8_000, 1_000 * 2 ** (state.restarts - 1));
      await setPodStatus(this.#kubectl, pod, {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'worker',
            image: pod.spec!.containers[0]!.image!,
            imageID: '',
            ready: false,
            restartCount: state.restarts,
            state: {
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container' },
            },
            lastState: {
              terminated: {
                exitCode: exited.child.exitCode ?? 137,
                reason: exited.child.exitCode === 0 ? 'Completed' : 'Error',
              },
            },
          },
        ],
      }).catch(() => undefined);
      return;
    }
    if (Date.now() < state.restartAt) return;
    state.restartAt = undefined;
    this.#spawn(pod, state.env);
    await setPodStatus(this.#kubectl, pod, {
      ...RUNNING,
      containerStatuses: [{ ...RUNNING!.containerStatuses![0]!, restartCount: state.restarts }],
    }).catch(() => undefined);
  }

  async #firstStart(pod: V1Pod): Promise<void> {
    if (!pod.spec!.nodeName) {
      const file = join(testStack().workDir, `binding-${pod.metadata!.uid}.json`);
      await writeFile(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata!.name },
          target: { apiVersion: 'v1', kind: 'Node', name: this.#node },
        }),
      );
      await this.#kubectl(
        'create',
        '--raw',
        `/api/v1/namespaces/${this.#ns}/pods/${pod.metadata!.name}/binding`,
        '-f',
        file,
      );
    }
    const container = pod.spec!.containers[0]!;
    const env: Record<string, string> = {}; // spawnNode adds PATH, as an image's ENV would
    for (const ref of container.envFrom ?? []) {
      if (!ref.secretRef?.name) continue;
      const secret = JSON.parse(
        (await this.#kubectl('get', 'secret', ref.secretRef.name, '-n', this.#ns, '-o', 'json')).stdout,
      ) as V1Secret;
      for (const [k, v] of Object.entries(secret.data ?? {})) env[k] = Buffer.from(v, 'base64').toString();
    }
    for (const v of container.env ?? []) env[v.name] = resolve(v, pod, env);
    env.WA_HTTP_PORT = String(await freePort());
    this.#pods.set(pod.metadata!.uid!, { env, restarts: 0 });
    this.#spawn(pod, env);
    await setPodStatus(this.#kubectl, pod, RUNNING).catch(() => undefined); // gone meanwhile
  }

  #spawn(pod: V1Pod, env: Record<string, string>): void {
    const { script, args } = this.#command(pod);
    const worker: RunningWorker = {
      ...spawnNode(script, env, args),
      pod: pod.metadata!.name!,
      uid: pod.metadata!.uid!,
    };
    this.workers.set(worker.uid, worker);
  }
}

/** One env entry's value: $(VAR) expanded from earlier entries, or a downward API field. */
function resolve(v: V1EnvVar, pod: V1Pod, env: Record<string, string>): string {
  if (v.value !== undefined)
    return v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => env[n] ?? m);
  const field = v.valueFrom?.fieldRef?.fieldPath;
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata!.name,
    'metadata.uid': pod.metadata!.uid,
    'metadata.namespace': pod.metadata!.namespace,
  };
  if (field && fields[field] !== undefined) return fields[field]!;
  throw new Error(`process-kubelet: cannot resolve env ${v.name} (${JSON.stringify(v.valueFrom)})`);
}
