/**
 * The whole product on real parts, for the end-to-end tests: the real operator (in this
 * process) watching one namespace of the real API server, a process kubelet running its
 * worker pods as processes, and real NATS, MinIO, local-kms and the WhatsApp Web simulator.
 */
import { adminKubectl, type Kubectl } from '../../harness/kubectl.ts';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { testStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';
import { realStorage, stateStoreEnv } from '../auth-store/fixtures.ts';
import { prepareNamespace, testConfig } from '../operator/fixtures.ts';
import { trustRootFile, type Storage } from '../worker/worker-harness.ts';
import { ProcessKubelet, type ContainerCommand } from './process-kubelet.ts';

export interface Product {
  ns: string;
  sim: Simulator;
  nc: NatsConnection;
  storage: Storage;
  kubelet: ProcessKubelet;
  kubectl: Kubectl;
  channel(name: string): Promise<WhatsAppChannel>;
  pods(): Promise<{ metadata: { name: string; uid: string } }[]>;
  /**
   * Stops the operator and starts it again with these settings on top of the first ones, as a
   * `helm upgrade` that changes an operator setting does (a new operator pod, new environment).
   */
  restartOperator(env: Record<string, string>): Promise<void>;
  /** The operator running now (its queue and metrics). */
  controller(): Controller;
  stop(): Promise<void>;
}

/** `operatorEnv`: extra operator settings (variables, as the chart would set them). */
/** `containerCommand`: what the kubelet runs for a pod (default: the real worker). */
export async function startProduct(
  name: string,
  operatorEnv: Record<string, string> = {},
  containerCommand?: ContainerCommand,
): Promise<Product> {
  const stack = testStack();
  const kubectl = adminKubectl();
  // The operator's own S3 access, for erasing a channel's state (in a cluster: its IRSA role).
  process.env.AWS_ACCESS_KEY_ID = stack.s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = stack.s3.secretAccessKey;

  const ns = `${name}-${Date.now().toString(36)}`;
  const sim = await startSimulator();
  const storage = await realStorage(name);
  const nc = await connect({ servers: stack.nats.url });
  await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
  // What a platform engineer puts in the clinic's namespace for the workers: cloud credentials.
  await kubectl(
    'create',
    'secret',
    'generic',
    'wa-aws',
    '-n',
    ns,
    `--from-literal=AWS_ACCESS_KEY_ID=${stack.s3.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${stack.s3.secretAccessKey}`,
  );
  const baseEnv = {
    WA_WATCH_NAMESPACE: ns,
    NATS_URL: stack.nats.url,
    ...stateStoreEnv(storage), // the operator passes these on to every worker pod
    WA_WORKER_SERVICE_ACCOUNT: 'whatsapp-worker',
    WA_WORKER_ENV_SECRET: 'wa-aws',
    // The simulator is an operator setting of its own (extra env may not move the endpoint),
    // and every channel's status shows it: TestEndpoint=True.
    WA_WORKER_SIMULATOR_URL: sim.url,
    WA_WORKER_SIMULATOR_TRUST_ROOT: trustRootFile(sim, name),
    ...operatorEnv,
  };
  const connection = await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig });
  const operator = (env: Record<string, string>): Promise<Controller> =>
    startController(connection, testConfig(env), Promise.resolve(nc), pino({ level: 'silent' }));
  let controller = await operator(baseEnv);
  const kubelet = new ProcessKubelet(kubectl, ns, containerCommand);
  kubelet.start();
  return {
    ns,
    sim,
    nc,
    storage,
    kubelet,
    kubectl,
    channel: async (channelName) =>
      JSON.parse(
        (await kubectl('get', 'wac', channelName, '-n', ns, '-o', 'json')).stdout,
      ) as WhatsAppChannel,
    pods: async () => JSON.parse((await kubectl('get', 'pods', '-n', ns, '-o', 'json')).stdout).items,
    restartOperator: async (env) => {
      await controller.stop();
      controller = await operator({ ...baseEnv, ...env });
    },
    controller: () => controller,
    stop: async () => {
      await kubelet.stop();
      await controller.stop();
      await nc.close();
      await sim.stop();
    },
  };
}
