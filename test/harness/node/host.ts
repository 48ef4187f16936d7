/**
 * What the one-node cluster changes on the machine, and how each change is undone: the pod
 * network's bridge and its addresses, an iptables rule, kernel settings the kubelet sets, the
 * kubelet's mounts and cgroups. Every step records its undo, so stopping the cluster leaves the
 * machine as it was, also after a start that failed half way.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const sh = (command: string, ...args: string[]) => run(command, args, { maxBuffer: 16 << 20 });

/** Undo steps, run last-in first-out; each one's failure is collected, not thrown at once. */
export class Undo {
  readonly #steps: { what: string; step: () => Promise<unknown> }[] = [];

  push(what: string, step: () => Promise<unknown>): void {
    this.#steps.push({ what, step });
  }

  async runAll(): Promise<string[]> {
    const failures: string[] = [];
    for (const { what, step } of this.#steps.splice(0).reverse()) {
      await step().catch((err: unknown) => failures.push(`${what}: ${String(err)}`));
    }
    return failures;
  }
}

/** Kernel settings the kubelet changes at start (ContainerManager, "protectKernelDefaults" off). */
const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

/** Records the kubelet's kernel settings now, to write them back at stop. */
export async function keepSysctls(undo: Undo): Promise<void> {
  for (const key of KUBELET_SYSCTLS) {
    const file = join('/proc/sys', key);
    const value = (await readFile(file, 'utf8')).trim();
    undo.push(`restore ${key}=${value}`, () => writeFile(file, value));
  }
}

export interface PodNetwork {
  bridge: string;
  /** The node's IP: the bridge's address, the pods' gateway, where the kubelet listens. */
  nodeIp: string;
  /** The pods' subnet (host-local allocates from it). */
  subnet: string;
  prefix: number;
  /** The API server's service IP (the first of the service range), also on the bridge. */
  apiServerIp: string;
  serviceRange: string;
}

/**
 * A Linux bridge of its own, private to this machine. The kubelet refuses a loopback node IP,
 * so the bridge's address is the node's. The `kubernetes` Service's ClusterIP is put on the
 * bridge too: with the API server listening there on 443, pods reach it through their default
 * route without kube-proxy. Bridged traffic passes iptables (br_netfilter, loaded with Docker),
 * whose FORWARD policy may be DROP: one ACCEPT rule for the bridge lets pods talk to each other.
 */
export async function createPodNetwork(net: PodNetwork, undo: Undo): Promise<void> {
  await sh('ip', 'link', 'add', net.bridge, 'type', 'bridge');
  undo.push(`delete bridge ${net.bridge}`, () => sh('ip', 'link', 'delete', net.bridge));
  await sh('ip', 'addr', 'add', `${net.nodeIp}/${net.prefix}`, 'dev', net.bridge);
  await sh('ip', 'addr', 'add', `${net.apiServerIp}/32`, 'dev', net.bridge);
  await sh('ip', 'link', 'set', net.bridge, 'up');
  const rule = ['FORWARD', '-i', net.bridge, '-o', net.bridge, '-j', 'ACCEPT'];
  await sh('iptables', '-I', ...rule);
  undo.push(`remove iptables rule ${rule.join(' ')}`, () => sh('iptables', '-D', ...rule));
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    .map((p) => p.replace(/\\040/g, ' '));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (the kubelet's volumes, its own bind mount, rootfs overlays). */
export async function unmountAll(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) await sh('umount', p).catch(() => sh('umount', '-l', p).catch(() => undefined));
  }
  const left = await mountsUnder(dir);
  if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
}

/** Removes a cgroup (v1: in every controller) with everything below it, deepest first. */
export async function removeCgroup(name: string): Promise<void> {
  const root = '/sys/fs/cgroup';
  const controllers = await readdir(root);
  for (const c of controllers) {
    const dir = join(root, c, name);
    await removeCgroupDir(dir);
  }
}

async function removeCgroupDir(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // not in this controller
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupDir(join(dir, e.name));
  await rmdir(dir);
}

/** Pids of processes whose command line contains `marker` (our own containerd's shims, say). */
export async function pidsWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}
