/**
 * Every real server the tests (and the local demo) run, pinned by version.
 * Each is built from the Go module proxy inside its own committed wrapper module
 * (test/servers/go/<module>), because no registry reachable here ships these
 * binaries, and one module per server keeps Go's version selection from mixing
 * their dependency graphs. See docs/testing.md.
 */
export interface ServerBinary {
  /** Binary name, also the cache folder's prefix. */
  name: string;
  version: string;
  /** Wrapper module folder under test/servers/go. */
  module: string;
  /** Go package path of the `main` package to build. */
  goPackage: string;
  /** Linker flags, e.g. to stamp the version reported by the binary. */
  ldflags: string[];
}

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

const kube = (name: string): ServerBinary => ({
  name,
  version: KUBERNETES_VERSION,
  module: 'kubernetes',
  goPackage: `k8s.io/kubernetes/cmd/${name}`,
  ldflags: kubernetesVersionFlags(),
});

export const SERVERS = {
  natsServer: {
    name: 'nats-server',
    version: 'v2.11.17',
    module: 'nats-server',
    goPackage: 'github.com/nats-io/nats-server/v2',
    ldflags: [],
  },
  etcd: {
    name: 'etcd',
    version: 'v3.6.16',
    module: 'etcd',
    goPackage: 'go.etcd.io/etcd/server/v3',
    ldflags: [],
  },
  kubeApiserver: kube('kube-apiserver'),
  kubeControllerManager: kube('kube-controller-manager'),
  kubectl: kube('kubectl'),
  minio: {
    name: 'minio',
    version: 'v0.0.0-20260212201848-7aac2a2c5b7c',
    module: 'minio',
    goPackage: 'github.com/minio/minio',
    ldflags: [],
  },
  localKms: {
    name: 'local-kms',
    version: 'v0.0.0-20231025161602-e4d9425700fe',
    module: 'local-kms',
    goPackage: 'github.com/nsmithuk/local-kms',
    ldflags: [],
  },
  helm: {
    name: 'helm',
    version: 'v3.21.4',
    module: 'helm',
    goPackage: 'helm.sh/helm/v3/cmd/helm',
    ldflags: ['-X helm.sh/helm/v3/internal/version.version=v3.21.4'],
  },
} as const satisfies Record<string, ServerBinary>;

export type ServerKey = keyof typeof SERVERS;
