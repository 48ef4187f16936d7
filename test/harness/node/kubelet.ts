/**
 * The kubelet of the one-node cluster, on Debian's containerd through CRI, with settings this
 * machine kind needs: cgroup v1 with the cgroupfs driver (`failCgroupV1: false`), swap allowed,
 * image garbage collection off (nothing can be pulled again), and every directory it writes
 * (root, pod logs, volume plugins) inside the cluster's own folder. Its node IP is the pod
 * bridge's address: the kubelet refuses a loopback one.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from '../process.ts';
import { freePort } from '../ports.ts';
import { httpOk } from '../process.ts';

export interface KubeletOptions {
  bin: string;
  dir: string;
  nodeName: string;
  nodeIp: string;
  kubeconfig: string;
  containerdSocket: string;
}

export async function startKubelet(o: KubeletOptions): Promise<ManagedProcess> {
  await mkdir(o.dir, { recursive: true });
  const healthzPort = await freePort();
  const config = join(o.dir, 'config.yaml');
  await writeFile(
    config,
    `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${o.nodeIp}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthzPort}
# The API server reaches the kubelet (logs) without a client certificate: a private bridge only.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${o.containerdSocket}
imageServiceEndpoint: unix://${o.containerdSocket}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: ${join(o.dir, 'pod-logs')}
volumePluginDir: ${join(o.dir, 'volume-plugins')}
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 10s
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
`,
  );
  return ManagedProcess.start({
    name: 'kubelet',
    command: o.bin,
    args: [
      `--config=${config}`,
      `--kubeconfig=${o.kubeconfig}`,
      `--root-dir=${join(o.dir, 'root')}`,
      `--cert-dir=${join(o.dir, 'pki')}`,
      `--hostname-override=${o.nodeName}`,
      `--node-ip=${o.nodeIp}`,
      '--v=1',
    ],
    logFile: join(o.dir, 'kubelet.log'),
    ready: () => httpOk(`http://127.0.0.1:${healthzPort}/healthz`),
    readyTimeoutMs: 60_000,
  });
}
