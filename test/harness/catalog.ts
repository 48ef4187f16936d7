/**
 * Every real server the tests run, pinned by version. Each is built from the Go module
 * proxy inside its own committed wrapper module (test/servers/go/<module>) by the
 * product's local-servers/server-binary.ts; nats-server is the product's own entry
 * (local mode starts it too), with its wrapper module in local-servers/go. See docs/testing.md.
 */
import { join } from 'node:path';
import { NATS_SERVER } from '../../local-servers/nats-server.ts';
import type { ServerBinary } from '../../local-servers/server-binary.ts';
import { goModulesDir } from './paths.ts';

export const KUBERNETES_VERSION = 'v1.33.13';

/** kube-apiserver reports v0.0.0 unless its version variables are stamped; clients such as helm read it. */
function kubernetesVersionFlags(): string[] {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.gitCommit=0000000000000000000000000000000000000000`,
    `-X ${pkg}.buildDate=2026-01-01T00:00:00Z`,
  ]);
}

/** The control plane's binaries, from test/servers/go/kubernetes; the node's (kubelet, kube-scheduler) from kubernetes-node. */
const kube = (name: string, module = 'kubernetes'): ServerBinary => ({
  name,
  version: KUBERNETES_VERSION,
  moduleDir: join(goModulesDir, module),
  goPackage: `k8s.io/kubernetes/cmd/${name}`,
  ldflags: kubernetesVersionFlags(),
});

export const CNI_PLUGINS_VERSION = 'v1.9.1';

/** One CNI plugin of github.com/containernetworking/plugins; the node harness links it under its type name. */
const cniPlugin = (type: string, path: string): ServerBinary => ({
  name: `cni-${type}`,
  version: CNI_PLUGINS_VERSION,
  moduleDir: join(goModulesDir, 'cni-plugins'),
  goPackage: `github.com/containernetworking/plugins/plugins/${path}`,
  ldflags: [],
});

/**
 * The one-node cluster's own binaries (test/harness/node/), built only when a test starts the
 * node: kubelet and kube-scheduler, and the CNI plugins of its pod network. containerd and
 * runc are Debian's packages.
 */
export const NODE_BINARIES = {
  kubelet: kube('kubelet', 'kubernetes-node'),
  kubeScheduler: kube('kube-scheduler', 'kubernetes-node'),
  cniBridge: cniPlugin('bridge', 'main/bridge'),
  cniHostLocal: cniPlugin('host-local', 'ipam/host-local'),
  cniLoopback: cniPlugin('loopback', 'main/loopback'),
} as const satisfies Record<string, ServerBinary>;

export const SERVERS = {
  natsServer: NATS_SERVER,
  etcd: {
    name: 'etcd',
    version: 'v3.6.16',
    moduleDir: join(goModulesDir, 'etcd'),
    goPackage: 'go.etcd.io/etcd/server/v3',
    ldflags: [],
  },
  kubeApiserver: kube('kube-apiserver'),
  kubeControllerManager: kube('kube-controller-manager'),
  kubectl: kube('kubectl'),
  minio: {
    name: 'minio',
    version: 'v0.0.0-20260212201848-7aac2a2c5b7c',
    moduleDir: join(goModulesDir, 'minio'),
    goPackage: 'github.com/minio/minio',
    ldflags: [],
  },
  localKms: {
    name: 'local-kms',
    version: 'v0.0.0-20231025161602-e4d9425700fe',
    moduleDir: join(goModulesDir, 'local-kms'),
    goPackage: 'github.com/nsmithuk/local-kms',
    ldflags: [],
  },
  helm: {
    name: 'helm',
    version: 'v3.21.4',
    moduleDir: join(goModulesDir, 'helm'),
    goPackage: 'helm.sh/helm/v3/cmd/helm',
    ldflags: ['-X helm.sh/helm/v3/internal/version.version=v3.21.4'],
  },
  // Not a server: the tests run `promtool test rules` on the chart's alert rules. Prometheus 3.16
  // is published to the module proxy as v0.316.0.
  promtool: {
    name: 'promtool',
    version: 'v0.316.0',
    moduleDir: join(goModulesDir, 'promtool'),
    goPackage: 'github.com/prometheus/prometheus/cmd/promtool',
    ldflags: ['-X github.com/prometheus/common/version.Version=3.16.0'],
  },
  // Not a server of the product: the smallest OpenTelemetry Collector (OTLP receiver, file
  // exporter), whose main package is the wrapper module itself; the trace tests send to it.
  otelcol: {
    name: 'otelcol',
    version: 'v0.161.0',
    moduleDir: join(goModulesDir, 'otelcol'),
    goPackage: 'wa-operator.test/servers/otelcol',
    ldflags: [],
  },
} as const satisfies Record<string, ServerBinary>;

export type ServerKey = keyof typeof SERVERS;
