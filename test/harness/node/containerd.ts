/**
 * Debian's containerd (1.6, with its CRI plugin) as the node's container runtime, on a socket
 * and state of its own, and the images it runs: nothing can be pulled here, so the pause
 * image is made locally (Kubernetes' own pause.c, from the k8s.io/kubernetes module the
 * harness already downloads, compiled static with gcc) and the product images are imported
 * from Docker (`docker save | ctr images import`). Settings that this machine kind needs:
 * - `restrict_oom_score_adj`: the VM withholds CAP_SYS_RESOURCE, so runc cannot lower
 *   oom_score_adj and every sandbox would fail ("can't get final child's PID from pipe");
 * - `SystemdCgroup = false`: cgroup v1 with the cgroupfs driver (the kubelet's too);
 * - the local pause image as `sandbox_image`; the kubelet keeps image garbage collection off,
 *   since nothing it removed could be pulled again.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KUBERNETES_VERSION } from '../catalog.ts';
import { cacheDir, withLock } from '../images/cache.ts';
import { aptInstall, docker, DOCKER } from '../images/docker.ts';
import { goModulesDir } from '../paths.ts';
import { ManagedProcess } from '../process.ts';

const run = promisify(execFile);

export const PAUSE_IMAGE = 'registry.wa.test/pause:3.10.1';
const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';

export interface Containerd {
  process: ManagedProcess;
  /** unix socket path */
  socket: string;
  /** `ctr -n k8s.io` on this containerd */
  ctr: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
}

export async function startContainerd(
  dir: string,
  cniBinDir: string,
  cniConfDir: string,
): Promise<Containerd> {
  if (!existsSync(CONTAINERD) || !existsSync(CTR)) await aptInstall(['containerd'], () => undefined);
  await mkdir(dir, { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${cniConfDir}"
`,
  );
  const ctr = (...args: string[]) =>
    run(CTR, ['--address', socket, '-n', 'k8s.io', ...args], { maxBuffer: 64 << 20 });
  const process = await ManagedProcess.start({
    name: 'containerd',
    command: CONTAINERD,
    args: ['--config', config, '--log-level', 'warn'],
    logFile: join(dir, 'containerd.log'),
    ready: () => ctr('version').then(() => true),
    readyTimeoutMs: 30_000,
  });
  return { process, socket, ctr };
}

/** Copies images from Docker into the node's containerd (the kubelet then never pulls them). */
export async function importImages(containerd: Containerd, refs: string[]): Promise<void> {
  const script = `"${DOCKER}" save "$@" | ${CTR} --address "${containerd.socket}" -n k8s.io images import -`;
  await run('bash', ['-o', 'pipefail', '-c', script, 'import', ...refs], { maxBuffer: 64 << 20 });
}

/** Kubernetes' pause image (the pod sandbox), made once into Docker from pause.c. */
export async function ensurePauseImage(log: (line: string) => void): Promise<string> {
  const exists = await docker('image', 'inspect', PAUSE_IMAGE).then(
    () => true,
    () => false,
  );
  if (exists) return PAUSE_IMAGE;
  const dir = join(cacheDir(), 'images');
  await mkdir(dir, { recursive: true });
  return withLock(join(dir, 'pause.lock'), log, 'making the pause image', async () => {
    const { stdout } = await run(
      'go',
      ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`],
      {
        cwd: join(goModulesDir, 'kubernetes-node'),
        env: { ...process.env, GOTOOLCHAIN: 'local' },
        maxBuffer: 16 << 20,
      },
    );
    const source = join((JSON.parse(stdout) as { Dir: string }).Dir, 'build/pause/linux/pause.c');
    const work = await mkdtemp(join(dir, 'pause-'));
    try {
      const root = join(work, 'root');
      await mkdir(root);
      log(`making ${PAUSE_IMAGE} (gcc -static ${source})`);
      await run('gcc', ['-Os', '-static', '-DVERSION=v3.10.1', '-o', join(root, 'pause'), source]);
      await chmod(join(root, 'pause'), 0o755);
      await run('bash', [
        '-o',
        'pipefail',
        '-c',
        `tar -C "$1" --numeric-owner --mtime=@0 -cf - . | "${DOCKER}" import --change 'USER 65535:65535' --change 'ENTRYPOINT ["/pause"]' - "$2"`,
        'import',
        root,
        PAUSE_IMAGE,
      ]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return PAUSE_IMAGE;
  });
}
