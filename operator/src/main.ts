/**
 * The operator process: `node operator/src/main.ts [flags]` on Node 24. Configuration
 * comes from flags and the environment (config.ts, `--help`); the cluster from the
 * in-cluster service account or KUBECONFIG. Replicas elect a leader; only the leader
 * watches and reconciles.
 *
 * Exit codes: 0 after a graceful shutdown, 1 on a fatal error or a lost leader lease
 * (Kubernetes restarts the pod as a standby), 2 for invalid configuration.
 */
import type { NatsConnection } from 'nats';
import pino from 'pino';
import { openNatsConnection } from '../../contract/index.ts';
import { helpText, parseOperatorConfig, wantsHelp } from './config.ts';
import { startController, type Controller } from './controller/controller.ts';
import { startHealthServer } from './health.ts';
import { loadKubeConnection } from './kube/connection.ts';
import { KubeHttp } from './kube/http.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { createOperatorMetrics } from './metrics.ts';

if (wantsHelp(process.argv.slice(2))) {
  process.stdout.write(helpText());
  process.exit(0);
}
const parsed = parseOperatorConfig(process.env, process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`operator configuration is invalid:\n  - ${parsed.errors.join('\n  - ')}\n`);
  process.exit(2);
}
const config = parsed.config;
const logger = pino({
  level: config.logLevel,
  base: { component: 'operator', replica: config.leader.identity },
});
// The operator's own small client (kube/http.ts), not @kubernetes/client-node, which is loaded
// only for a kubeconfig whose authentication the small client does not do (exec plugins, OIDC…).
const kube = await loadKubeConnection({
  onFallback: (reason) =>
    logger.info({ reason }, 'kubeconfig authentication through @kubernetes/client-node'),
}).catch((err: unknown) => {
  logger.fatal({ err: String((err as Error)?.message ?? err) }, 'no Kubernetes configuration');
  process.exit(1);
});

let controller: Controller | undefined;
let nc: NatsConnection | undefined;
let stopping = false;
const elector = config.leader.enabled
  ? new LeaderElector(new KubeHttp(kube), {
      namespace: config.leader.namespace,
      name: config.leader.name,
      identity: config.leader.identity,
      durationMs: config.leader.leaseMs,
      onProblem: (what, err) => logger.warn({ err: String((err as Error)?.message ?? err) }, what),
    })
  : undefined;

// Health and metrics answer from the start: a standby is alive and ready, just not leading.
const metrics = createOperatorMetrics();
const health = await startHealthServer(config.httpPort, {
  ready: () => controller === undefined || controller.ready(),
  registry: () => metrics.registry,
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'stopping: finishing reconciles in progress');
  const deadline = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + 5_000);
  deadline.unref();
  await controller?.stop(config.shutdownTimeoutMs);
  await nc?.drain().catch(() => undefined);
  // Last: a standby takes over at once, and nothing of ours is still writing.
  await elector?.release();
  health.server.close();
  logger.info('stopped');
  process.exit(0);
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(signal));

try {
  if (elector) {
    logger.info(
      { lease: `${config.leader.namespace}/${config.leader.name}` },
      'waiting to become the leader',
    );
    if (!(await elector.acquire())) process.exit(0); // stopped while waiting
    logger.info('became the leader');
    metrics.leader.set(1);
    // Losing the lease means another replica may be reconciling already: stop at once,
    // and let Kubernetes restart this pod as a standby.
    elector.keepRenewing(() => {
      metrics.leader.set(0);
      logger.error('lost the leader lease; exiting');
      process.exit(1);
    });
  }
  const connecting = openNatsConnection({
    url: config.natsUrl,
    name: `whatsapp-operator-${config.leader.identity}`,
    credsFile: config.natsCredsFile,
    reconnect: 'forever',
    // NATS being down must not keep the operator from managing pods.
    waitOnFirstConnect: true,
  });
  connecting.then(
    async (c) => {
      nc = c;
      logger.info({ server: c.getServer() }, 'connected to NATS');
      for await (const s of c.status())
        logger.info({ nats: s.type, data: String(s.data) }, 'NATS connection');
    },
    () => undefined, // logged by the controller
  );
  if (!stopping) {
    if (!elector) metrics.leader.set(1); // the only replica, by configuration
    controller = await startController(kube, config, connecting, logger, { metrics });
    logger.info({ namespace: config.watchNamespace || '(all)' }, 'operator started');
  }
} catch (err) {
  logger.fatal({ err: String((err as Error)?.message ?? err) }, 'cannot start');
  process.exit(1);
}
