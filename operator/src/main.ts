/**
 * The operator process: `node operator/src/main.ts` on Node 24. Configuration comes
 * from the environment (operator/src/config.ts); the cluster from in-cluster config
 * or KUBECONFIG.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { connect } from 'nats';
import pino from 'pino';
import { parseOperatorConfig } from './config.ts';
import { startController } from './controller.ts';

const parsed = parseOperatorConfig(process.env);
if (!parsed.ok) {
  console.error(`operator configuration is invalid:\n  - ${parsed.errors.join('\n  - ')}`);
  process.exit(2);
}
const config = parsed.config;
const logger = pino({ level: process.env.WA_LOG_LEVEL ?? 'info', base: { component: 'operator' } });
const kc = new KubeConfig();
kc.loadFromDefault();
const nc = await connect({
  servers: config.natsUrl,
  name: `operator-${config.leaseHolder}`,
  maxReconnectAttempts: -1,
});
const controller = await startController(kc, config, nc, logger);
logger.info({ namespace: config.watchNamespace || '(all)' }, 'operator started');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'stopping');
    controller.stop();
    void nc.close().finally(() => process.exit(0));
  });
}
