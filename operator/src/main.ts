/**
 * The operator process: `node operator/src/main.ts` on Node 24. Configuration comes
 * from the environment (operator/src/config.ts); the cluster from in-cluster config
 * or KUBECONFIG. Replicas elect a leader; only the leader reconciles.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { connect } from 'nats';
import pino from 'pino';
import { parseOperatorConfig } from './config.ts';
import { startController, type Controller } from './controller.ts';
import { LeaderElector } from './leader.ts';
import { startOperatorHttp } from './http.ts';

const parsed = parseOperatorConfig(process.env);
if (!parsed.ok) {
  console.error(`operator configuration is invalid:\n  - ${parsed.errors.join('\n  - ')}`);
  process.exit(2);
}
const config = parsed.config;
const logger = pino({
  level: process.env.WA_LOG_LEVEL ?? 'info',
  base: { component: 'operator', replica: config.leaseHolder },
});
const kc = new KubeConfig();
kc.loadFromDefault();

const elector = new LeaderElector(kc, {
  namespace: config.leaseNamespace,
  name: 'whatsapp-operator-leader',
  identity: config.leaseHolder,
  durationMs: config.leaderLeaseMs,
  renewEveryMs: Math.max(1_000, Math.floor(config.leaderLeaseMs / 3)),
});
let controller: Controller | undefined;
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopping = true;
    logger.info({ signal }, 'stopping');
    controller?.stop();
    void elector.release().finally(() => process.exit(0));
  });
}

// Health answers from the start: a standby is alive and ready, just not leading.
await startOperatorHttp(
  config.httpPort,
  () => controller === undefined || (controller.channels.synced() && controller.pods.synced()),
  () => controller?.metrics.registry,
);
logger.info('waiting to become the leader');
await elector.acquire();
if (!stopping) {
  logger.info('became the leader');
  // Losing the lease means another replica may be reconciling: stop at once, and let
  // Kubernetes restart this pod as a standby.
  elector.keepRenewing(() => {
    logger.error('lost the leader lease; exiting');
    process.exit(1);
  });
  const nc = await connect({
    servers: config.natsUrl,
    name: `operator-${config.leaseHolder}`,
    maxReconnectAttempts: -1,
  });
  controller = await startController(kc, config, nc, logger);
  logger.info({ namespace: config.watchNamespace || '(all)' }, 'operator started');
}
