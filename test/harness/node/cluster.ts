/**
 * A real one-node Kubernetes cluster inside this machine, for the tests that install the
 * product as users do (helm, kubectl apply) and run it in real pods: its own control plane
 * (control-plane.ts), a kubelet (kubelet.ts) on Debian's containerd (containerd.ts), and a pod
 * network of its own — a private bridge with the CNI plugins bridge, host-local and loopback.
 * Nothing outside the machine is ever contacted: images come from the local Docker engine.
 *
 * `stop()` leaves the machine as it was: pods gone, no process, mount, network namespace,
 * cgroup, link or iptables rule of the cluster left, the kernel settings the kubelet changed
 * written back (host.ts). Binaries are cached like the other servers (catalog.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ensureServerBinary } from '../../../local-servers/server-binary.ts';
import { NODE_BINARIES, SERVERS } from '../catalog.ts';
import { acquireLock, cacheDir } from '../images/cache.ts';
import { ensureDocker } from '../images/docker.ts';
import type { Kubectl } from '../kubectl.ts';
import type { ManagedProcess } from '../process.ts';
import { ensurePauseImage, importImages, startContainerd, type Containerd } from './containerd.ts';
import { startControlPlane } from './control-plane.ts';
import {
  createPodNetwork,
  keepSysctls,
  mountsUnder,
  pidsWith,
  removeCgroup,
  sh,
  unmountAll,
  Undo,
  type PodNetwork,
} from './host.ts';
import { startKubelet } from './kubelet.ts';

const run = promisify(execFile);

/** The pod network: a private /24 inside this machine, and the service range beside it. */
export const POD_NETWORK: PodNetwork = {
  bridge: 'wa-node0',
  nodeIp: '10.244.0.1',
  subnet: '10.244.0.0/24',
  prefix: 24,
  apiServerIp: '10.245.0.1',
  serviceRange: '10.245.0.0/24',
};
export const NODE_NAME = 'wa-node';
const NETNS_DIR = '/run/netns';

export interface NodeCluster {
  net: PodNetwork;
  nodeName: string;
  server: string;
  caFile: string;
  adminKubeconfig: string;
  kubectl: Kubectl;
  kubectlBin: string;
  helmBin: string;
  dir: string;
  containerd: Containerd;
  importImages(refs: string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startNodeCluster(log: (line: string) => void): Promise<NodeCluster> {
  const bin = async <K extends keyof typeof SERVERS>(k: K) => ensureServerBinary(SERVERS[k], log);
  const nodeBin = async <K extends keyof typeof NODE_BINARIES>(k: K) =>
    ensureServerBinary(NODE_BINARIES[k], log);
  const bins = {
    etcd: await bin('etcd'),
    kubeApiserver: await bin('kubeApiserver'),
    kubeControllerManager: await bin('kubeControllerManager'),
    kubectl: await bin('kubectl'),
    helm: await bin('helm'),
    kubeScheduler: await nodeBin('kubeScheduler'),
    kubelet: await nodeBin('kubelet'),
    cni: {
      bridge: await nodeBin('cniBridge'),
      'host-local': await nodeBin('cniHostLocal'),
      loopback: await nodeBin('cniLoopback'),
    },
  };
  await ensureDocker(log);
  await ensurePauseImage(log);
  // One cluster per machine at a time (one bridge, one port 443 on its address).
  const release = await acquireLock(join(cacheDir(), 'node.lock'), log, 'another one-node cluster to stop');
  if (existsSync(`/sys/class/net/${POD_NETWORK.bridge}`)) {
    await release();
    throw new Error(
      `${POD_NETWORK.bridge} exists, but no one-node cluster runs: remove it (ip link delete ${POD_NETWORK.bridge})`,
    );
  }

  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'wa-node-'));
  const undo = new Undo();
  const processes: ManagedProcess[] = [];
  const netnsBefore = new Set(await readdir(NETNS_DIR).catch(() => [] as string[]));
  // Folders containerd and the kubelet create on the host when missing: removed again at stop.
  const hostDirsMade = [NETNS_DIR, '/var/log/containers'].filter((d) => !existsSync(d));
  let containerd: Containerd | undefined;
  let adminKubeconfig = '';
  const kubectl: Kubectl = (...args) =>
    run(bins.kubectl, ['--kubeconfig', adminKubeconfig, ...args], { maxBuffer: 64 << 20 });

  const stop = async () => {
    const stopping = Date.now();
    const problems: string[] = [];
    const step = async (what: string, f: () => Promise<unknown>) =>
      f().catch((err: unknown) => problems.push(`${what}: ${String(err)}`));
    if (adminKubeconfig && containerd) {
      // Pods first, through the kubelet, so that each sandbox's network is torn down by CNI.
      await step('delete workloads', () =>
        kubectl(
          'delete',
          'deployments,replicasets,statefulsets,daemonsets,jobs',
          '--all',
          '-A',
          '--wait=false',
        ),
      );
      await step('delete pods', () =>
        kubectl('delete', 'pods', '--all', '-A', '--grace-period=1', '--wait=false'),
      );
      await step('wait for no running container', () => noRunningTasks(containerd!, 90_000));
    }
    for (const p of processes.reverse()) await step(`stop ${p.name}`, () => p.stop(10_000));
    if (containerd) {
      await step('stop containerd', () => containerd!.process.stop(10_000));
      // Shims outlive containerd by design; ours carry our socket's path.
      await step('kill shims', async () => {
        for (const pid of await pidsWith(dir)) process.kill(pid, 'SIGKILL');
      });
    }
    await sleep(500);
    await step('unmount', () => unmountAll(dir));
    await step('remove network namespaces', async () => {
      for (const ns of await readdir(NETNS_DIR).catch(() => [] as string[])) {
        if (netnsBefore.has(ns)) continue;
        await sh('umount', join(NETNS_DIR, ns)).catch(() => undefined);
        await rm(join(NETNS_DIR, ns), { force: true });
      }
    });
    await step('remove cgroups', () => removeCgroup('kubepods'));
    await step('remove container log links', async () => {
      for (const f of await readdir('/var/log/containers').catch(() => [] as string[])) {
        const target = await readlink(join('/var/log/containers', f)).catch(() => '');
        if (target.startsWith(dir)) await unlink(join('/var/log/containers', f));
      }
    });
    await step('remove host folders', async () => {
      for (const d of hostDirsMade) await rm(d, { recursive: true, force: true });
    });
    problems.push(...(await undo.runAll()));
    problems.push(...(await leftovers(dir)));
    await release();
    if (!process.env.WA_KEEP_STACK)
      await step('remove folder', () => rm(dir, { recursive: true, force: true }));
    log(`one-node cluster stopped in ${Math.round((Date.now() - stopping) / 1000)} s`);
    if (problems.length)
      throw new Error(`stopping the one-node cluster left problems:\n  ${problems.join('\n  ')}`);
  };

  try {
    await keepSysctls(undo);
    await createPodNetwork(POD_NETWORK, undo);
    const cniBin = join(dir, 'cni', 'bin');
    const cniConf = join(dir, 'cni', 'net.d');
    await mkdir(cniBin, { recursive: true });
    await mkdir(cniConf, { recursive: true });
    for (const [type, path] of Object.entries(bins.cni)) await symlink(path, join(cniBin, type));
    await writeFile(
      join(cniConf, '10-wa-pods.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'wa-pods',
        plugins: [
          {
            type: 'bridge',
            bridge: POD_NETWORK.bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              dataDir: join(dir, 'cni', 'ipam'),
              ranges: [
                [{ subnet: POD_NETWORK.subnet, rangeStart: '10.244.0.10', gateway: POD_NETWORK.nodeIp }],
              ],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
        ],
      }),
    );
    containerd = await startContainerd(join(dir, 'containerd'), cniBin, cniConf);
    await importImages(containerd, [await ensurePauseImage(log)]);
    const cp = await startControlPlane(
      {
        etcd: bins.etcd,
        kubeApiserver: bins.kubeApiserver,
        kubeControllerManager: bins.kubeControllerManager,
        kubeScheduler: bins.kubeScheduler,
      },
      POD_NETWORK,
      NODE_NAME,
      join(dir, 'control-plane'),
    );
    processes.push(...cp.processes);
    adminKubeconfig = cp.adminKubeconfig;
    processes.push(
      await startKubelet({
        bin: bins.kubelet,
        dir: join(dir, 'kubelet'),
        nodeName: NODE_NAME,
        nodeIp: POD_NETWORK.nodeIp,
        kubeconfig: cp.kubeletKubeconfig,
        containerdSocket: containerd.socket,
      }),
    );
    await kubectl('wait', '--for=condition=Ready', `node/${NODE_NAME}`, '--timeout=120s').catch(
      async (err: unknown) => {
        // The node object appears a moment after the kubelet starts.
        await sleep(3_000);
        await kubectl('wait', '--for=condition=Ready', `node/${NODE_NAME}`, '--timeout=120s').catch(() => {
          throw err;
        });
      },
    );
    const cd = containerd;
    log(`one-node cluster up in ${Math.round((Date.now() - started) / 1000)} s (${dir})`);
    return {
      net: POD_NETWORK,
      nodeName: NODE_NAME,
      server: cp.server,
      caFile: cp.caFile,
      adminKubeconfig,
      kubectl,
      kubectlBin: bins.kubectl,
      helmBin: bins.helm,
      dir,
      containerd: cd,
      importImages: (refs) => importImages(cd, refs),
      stop,
    };
  } catch (err) {
    await stop().catch((e: unknown) => log(String(e)));
    throw err;
  }
}

/** What a stopped cluster must not leave on the machine; each entry is a problem. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  if (existsSync(`/sys/class/net/${POD_NETWORK.bridge}`)) found.push(`link ${POD_NETWORK.bridge}`);
  const mounts = await mountsUnder(dir);
  if (mounts.length) found.push(`mounts ${mounts.join(', ')}`);
  const pids = await pidsWith(dir);
  if (pids.length) found.push(`processes ${pids.join(', ')}`);
  if (existsSync('/sys/fs/cgroup/memory/kubepods') || existsSync('/sys/fs/cgroup/unified/kubepods'))
    found.push('cgroup kubepods');
  const { stdout } = await sh('iptables', '-S', 'FORWARD');
  if (stdout.includes(POD_NETWORK.bridge)) found.push(`iptables rule for ${POD_NETWORK.bridge}`);
  return found.map((f) => `left behind: ${f}`);
}

async function noRunningTasks(containerd: Containerd, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { stdout } = await containerd.ctr('tasks', 'ls');
    const running = stdout
      .split('\n')
      .slice(1)
      .filter((l) => /\sRUNNING\s*$/.test(l));
    if (running.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${running.length} containers still running`);
    await sleep(500);
  }
}
