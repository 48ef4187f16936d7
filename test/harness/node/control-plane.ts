/**
 * The one-node cluster's control plane: etcd, kube-apiserver, kube-controller-manager with all
 * of its default controllers (Deployments, ReplicaSets, service-account tokens, garbage
 * collection…) and kube-scheduler. Unlike the shared test control plane (servers/kubernetes.ts),
 * the API server listens on the `kubernetes` Service's ClusterIP, which lives on the pod
 * network's bridge, on port 443: pods reach it with their in-cluster configuration and no
 * kube-proxy. Every component has its own identity (a token) and the API server authorizes
 * with Node and RBAC, as a real cluster does.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from '../process.ts';
import { startEtcd } from '../servers/etcd.ts';
import {
  apiServerSecurityArgs,
  httpsOk,
  kubeconfigYaml,
  startControlPlaneComponent,
} from '../servers/kubernetes.ts';
import { createControlPlanePki } from '../servers/pki.ts';
import type { PodNetwork } from './host.ts';

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
}

export interface ControlPlane {
  processes: ManagedProcess[];
  server: string;
  caFile: string;
  /** cluster-admin (system:masters) */
  adminKubeconfig: string;
  /** system:node:<nodeName> in system:nodes */
  kubeletKubeconfig: string;
}

export async function startControlPlane(
  bins: ControlPlaneBinaries,
  net: PodNetwork,
  nodeName: string,
  dir: string,
): Promise<ControlPlane> {
  await mkdir(dir, { recursive: true });
  const processes: ManagedProcess[] = [];
  try {
    const etcd = await startEtcd(bins.etcd, dir);
    processes.push(etcd.process);
    const pki = await createControlPlanePki(dir, [net.apiServerIp, net.nodeIp]);
    const server = `https://${net.apiServerIp}:443`;
    const identities = {
      admin: ['wa-node-admin', 'system:masters'],
      kubelet: [`system:node:${nodeName}`, 'system:nodes'],
      scheduler: ['system:kube-scheduler', ''],
      controllerManager: ['system:kube-controller-manager', ''],
    } as const;
    const tokens = Object.fromEntries(
      Object.keys(identities).map((k) => [k, randomBytes(24).toString('hex')]),
    ) as Record<keyof typeof identities, string>;
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(
      tokenFile,
      Object.entries(identities)
        .map(
          ([k, [user, group]]) =>
            `${tokens[k as keyof typeof identities]},${user},${user}${group ? `,"${group}"` : ''}`,
        )
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const kubeconfig = async (who: keyof typeof identities) => {
      const file = join(dir, `${who}.kubeconfig`);
      await writeFile(file, kubeconfigYaml(server, pki.caFile, tokens[who], identities[who][0]), {
        mode: 0o600,
      });
      return file;
    };
    const ca = await readFile(pki.caFile);
    processes.push(
      await ManagedProcess.start({
        name: 'kube-apiserver (node)',
        command: bins.kubeApiserver,
        args: [
          `--etcd-servers=${etcd.url}`,
          `--bind-address=${net.apiServerIp}`,
          `--advertise-address=${net.apiServerIp}`,
          '--secure-port=443',
          ...apiServerSecurityArgs(pki, tokenFile, dir),
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          `--service-cluster-ip-range=${net.serviceRange}`,
          '--kubelet-preferred-address-types=InternalIP',
        ],
        logFile: join(dir, 'kube-apiserver.log'),
        ready: () => httpsOk(`${server}/readyz`, ca, tokens.admin),
        readyTimeoutMs: 120_000,
      }),
    );
    const adminKubeconfig = await kubeconfig('admin');
    const kcmKubeconfig = await kubeconfig('controllerManager');
    processes.push(
      await startControlPlaneComponent({
        name: 'kube-controller-manager (node)',
        command: bins.kubeControllerManager,
        kubeconfig: kcmKubeconfig,
        dir,
        logName: 'kube-controller-manager',
        args: [
          `--service-account-private-key-file=${pki.serviceAccountPrivateKeyFile}`,
          `--root-ca-file=${pki.caFile}`,
          '--use-service-account-credentials=true',
          // A quota created just before a new resource type (the channel CRD) is counted for it
          // at the next full sync: 15 s here instead of 5 min, so a fresh clinic namespace's
          // quota admits its first channel without a long wait.
          '--resource-quota-sync-period=15s',
          `--cert-dir=${join(dir, 'kcm-certs')}`,
        ],
      }),
    );
    processes.push(
      await startControlPlaneComponent({
        name: 'kube-scheduler',
        command: bins.kubeScheduler,
        kubeconfig: await kubeconfig('scheduler'),
        dir,
        logName: 'kube-scheduler',
        args: [],
      }),
    );
    return {
      processes,
      server,
      caFile: pki.caFile,
      adminKubeconfig,
      kubeletKubeconfig: await kubeconfig('kubelet'),
    };
  } catch (err) {
    for (const p of processes.reverse()) await p.stop();
    throw err;
  }
}
