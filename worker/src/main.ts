/**
 * The worker process: one WhatsApp channel per pod. `node worker/src/main.ts` on Node 24.
 *
 * Start-up order matters:
 *   1. configuration (exit 2 with every problem listed if it is wrong);
 *   2. logs, metrics, the HTTP endpoints (liveness must answer while the rest starts);
 *   3. NATS, the streams, the event sink; status Pending is published;
 *   4. the lease — nothing touches the auth state or WhatsApp before this pod holds it;
 *   5. the auth state from S3 (KMS decrypts the data key once); any failure here stops the
 *      worker with a clear reason and leaves the stored state as it was;
 *   6. the session and the command server.
 * SIGTERM/SIGINT: stop taking commands, close the socket without logging out, flush creds,
 * drain events, release the lease, exit 0.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { parseWorkerConfig, type WorkerConfig } from './config.ts';
import { connectNats, ensureClinicStreamAtStart, type NatsHandle } from './events/nats.ts';
import { workerInboxPrefix } from '../../contract/index.ts';
import { createSink, createWorker, type Worker } from './compose-worker.ts';
import { StatusPublisher } from './events/status-publisher.ts';
import { startingWorkerHealth } from './ops/health.ts';
import { startHttpServer } from './ops/http.ts';
import { createLogger, interceptConsole } from './ops/log.ts';
import { createMetrics } from './ops/metrics.ts';
import { applyTrustRoot, loadTrustRoot } from './session/trust-root.ts';
import { acquireChannelLease, openChannelState, describeStateError } from './auth-store-setup.ts';

const EXIT = { ok: 0, failed: 1, config: 2, leaseLost: 3 } as const;

async function main(): Promise<number> {
  const parsed = parseWorkerConfig(process.env);
  if (!parsed.ok) {
    console.error(`worker configuration is invalid:\n  - ${parsed.errors.join('\n  - ')}`);
    return EXIT.config;
  }
  const config = parsed.config;
  const logger = createLogger({
    clinicId: config.clinicId,
    channelId: config.channelId,
    level: config.logLevel,
  });
  interceptConsole(logger);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

  const metrics = createMetrics({ clinic: config.clinicId, channel: config.channelId });
  // Every status, Pending and a start-up Error included, goes through this one producer.
  const status = new StatusPublisher(metrics);
  // The worker exists only after the lease and the state; health answers before that.
  const current: { worker?: Worker } = {};
  const health = startingWorkerHealth(
    () => status.phase,
    () => current.worker?.health,
  );
  const http = await startHttpServer(config.httpPort, health, metrics.registry, config.httpHost);

  let stopping = false;
  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal: sig }, 'stop requested');
      stopRequested?.();
    });
  }

  if (config.trustRootFile) {
    applyTrustRoot(await loadTrustRoot(config.trustRootFile));
    logger.warn({ url: config.waWebSocketUrl }, 'trusting the WhatsApp protocol simulator root (test setup)');
  }

  const nats = await connectNats(
    {
      servers: config.nats.servers,
      credsFile: config.nats.credsFile,
      name: config.leaseHolder,
      inboxPrefix: workerInboxPrefix(config.clinicId, config.channelId),
    },
    logger,
  );
  await ensureClinicStreamAtStart(await nats.nc.jetstreamManager(), config.clinicId, logger);
  const sink = createSink(config, nats, logger, metrics, (high) => {
    if (high) current.worker?.supervisor.sinkUnavailable();
  });
  status.sendTo(sink);
  status.publishStartup('Pending', 'Starting');

  const finish = async (code: number) => {
    await sink.close(3_000).catch(() => false);
    await nats.nc.close().catch(() => undefined);
    await closeServer(http);
    return code;
  };

  const lease = await Promise.race([acquireChannelLease(config, logger), stopSignal.then(() => undefined)]);
  if (!lease) return finish(EXIT.ok);

  let auth;
  try {
    auth = await openChannelState(config, logger, metrics, lease);
  } catch (err) {
    const { reason, message } = describeStateError(err);
    logger.error({ err, reason }, `cannot load the auth state: ${message}`);
    status.publishStartup('Error', reason, message);
    await lease.release().catch(() => undefined);
    return finish(EXIT.failed);
  }

  const worker = createWorker({ config, nc: nats.nc, auth, lease, logger, metrics, sink, status });
  current.worker = worker;
  lease.onLost?.(() => worker.supervisor.leaseLost());
  // Pending was published before the lease; the supervisor starts from Pending too.
  worker.supervisor.start();
  worker.commands.start();
  logger.info({ registered: auth.isRegistered(), pairing: config.pairing }, 'worker started');

  const outcome = await Promise.race([worker.finished, stopSignal.then(() => undefined)]);
  await worker.shutdown();
  const finished = outcome ?? (await worker.finished);
  logger.info({ reason: finished.reason, exitCode: finished.exitCode }, 'worker stopped');
  await nats.nc.close().catch(() => undefined);
  await closeServer(http);
  return outcome ? finished.exitCode : EXIT.ok;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export type { WorkerConfig, Logger, NatsHandle };

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('worker failed:', err instanceof Error ? err.message : String(err));
    process.exit(EXIT.failed);
  },
);
