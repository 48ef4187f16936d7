/**
 * The worker process: one WhatsApp channel per pod. `node worker/src/main.ts` on Node 24.
 *
 * Start-up order matters:
 *   1. configuration (exit 2 with every problem listed if it is wrong);
 *   2. logs, metrics, the HTTP endpoints (liveness must answer while the rest starts);
 *      status Pending, held by the status publisher until NATS is up and published first;
 *   3. the lease — nothing touches the auth state or WhatsApp before this pod holds it —
 *      then the auth state from S3 (KMS decrypts the data key once);
 *   4. beside 3 (it needs NATS only, 3 needs S3 and KMS only): NATS, the event sink (Pending
 *      and any wait reported by 3 go out, in order), the stream checks;
 *   5. the session and the command server, once both 3 and 4 are done.
 * Step 3 waits, with backoff and a status naming the cause, while S3 or KMS are away
 * (channel-hold.ts); only what a retry cannot fix (a foreign data key, a corrupt object) stops
 * the worker. A lease lost to an outage closes the session; the worker takes the lease back
 * when S3 answers and starts the session again from the stored state. A lease another worker
 * took means exit 3.
 * The steps are noted, with the ms since the process started, in the start-up timeline
 * (ops/startup-timeline.ts): debug lines, and one info line at the first Connected.
 * SIGTERM/SIGINT: stop taking commands, close the socket without logging out, flush creds,
 * drain events, release the lease, exit 0 (while NATS is still away at start: release the
 * lease if it was taken meanwhile, exit 0).
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { parseWorkerConfig, type WorkerConfig } from './config.ts';
import {
  connectNats,
  ensureClinicStreamAtStart,
  ensureSendLogAtStart,
  type NatsHandle,
} from './events/nats.ts';
import { KvSendLog } from './commands/send-log.ts';
import { KvClinicBudget } from './pacing/clinic-budget.ts';
import { workerInboxPrefix } from '../../contract/index.ts';
import { createSink, createWorker, type Worker } from './compose-worker.ts';
import { StatusPublisher } from './events/status-publisher.ts';
import { startingWorkerHealth } from './ops/health.ts';
import { startHttpServer } from './ops/http.ts';
import { startTracing, type Tracing } from './ops/tracing.ts';
import { createLogger, interceptConsole } from './ops/log.ts';
import { createMetrics } from './ops/metrics.ts';
import { StartupTimeline } from './ops/startup-timeline.ts';
import { applyTrustRoot, loadTrustRoot } from './session/trust-root.ts';
import { ChannelHold, StartFailure, type HeldChannel } from './channel-hold.ts';
import { LeaseTakenError, WorkerStalledError, type LeaseLoss } from './auth-store/lease-record.ts';
import { describeFailure, failureCause } from './ops/failure-cause.ts';
import type { Phase } from './session/phase-machine.ts';
import { REASONS } from './session/reconnect-policy.ts';

/** 3 is "another worker owns the channel" and nothing else (docs/worker.md). */
const EXIT = { ok: 0, failed: 1, config: 2, channelTaken: 3 } as const;

/** The tracing SDK when OTEL_* turns it on (ops/tracing.ts); its buffered spans go out at exit. */
let tracing: Tracing | undefined;

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
  const timeline = new StartupTimeline(logger);
  timeline.step('modules loaded');
  interceptConsole(logger);
  tracing = await startTracing(process.env, {
    clinicId: config.clinicId,
    channelId: config.channelId,
    worker: config.leaseHolder,
  });
  if (tracing) logger.info('tracing on: spans go to the OTLP endpoint of the OTEL_* environment');
  process.on('unhandledRejection', (err) =>
    logger.error({ err, cause: failureCause(err) }, 'unhandled rejection'),
  );

  const metrics = createMetrics(
    { clinic: config.clinicId, channel: config.channelId },
    { natsCredsFile: config.nats.credsFile, awsEnvExpiration: config.awsCredentialExpiration },
  );
  // Every status, Pending and a start-up Error included, goes through this one producer.
  const status = new StatusPublisher(metrics);
  // The worker exists only after the lease and the state; health answers before that.
  const current: { worker?: Worker } = {};
  const health = startingWorkerHealth(
    () => status.phase,
    () => current.worker?.health,
  );
  const http = await startHttpServer(config.httpPort, health, metrics.registry, config.httpHost);

  const stop = new AbortController();
  const stopSignal = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve()));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stop.signal.aborted) return;
      logger.info({ signal: sig }, 'stop requested');
      stop.abort();
    });
  }

  if (config.trustRootFile) {
    applyTrustRoot(await loadTrustRoot(config.trustRootFile));
    logger.warn({ url: config.waWebSocketUrl }, 'trusting the WhatsApp protocol simulator root (test setup)');
  }
  timeline.step('HTTP endpoints up');

  // Pending comes first: published at once, it waits in the status publisher until NATS is up.
  status.publishStartup('Pending', 'Starting');
  /** A status while no session runs (waiting for S3/KMS, a lost lease, a start-up Error). */
  const report = (phase: Phase, reason: string, message?: string, degraded = false) =>
    status.publish({
      phase,
      reason,
      message,
      account: undefined,
      reconnects: 0,
      degraded,
      lastConnectedAt: undefined,
    });
  const hold = new ChannelHold({
    config,
    logger,
    metrics,
    stop: stop.signal,
    timeline,
    // Waiting keeps the phase (Pending before the first session, Disconnected after one).
    report: (reason, message) => report(status.phase, reason, message, true),
  });
  const took = (held: Promise<HeldChannel | undefined>) =>
    Promise.race([held, stopSignal.then(() => undefined)]);
  // The lease and the state need S3 and KMS only, NATS and the stream checks need NATS only:
  // they run side by side, and the session starts once both are done (docs/worker.md, start-up).
  const taking = settle(took(hold.take()));
  void taking.then((t) => t.ok && t.value && timeline.step('state loaded'));

  const connected = await Promise.race([
    connectNats(
      {
        servers: config.nats.servers,
        credsFile: config.nats.credsFile,
        name: config.leaseHolder,
        inboxPrefix: workerInboxPrefix(config.clinicId, config.channelId),
      },
      logger,
    ),
    stopSignal.then(() => undefined),
  ]);
  if (!connected) {
    // Stopped while NATS was still away: give the channel back if it was taken meanwhile.
    const taken = await taking;
    if (taken.ok) await taken.value?.lease.release().catch(() => undefined);
    await closeServer(http);
    return EXIT.ok;
  }
  const nats = connected;
  timeline.step('NATS connected');
  // The stream checks (a few JetStream requests) run while the lease and the state load: they
  // must be done before the session starts, not before the lease (docs/worker.md, start-up).
  const streamsChecked = (async () => {
    try {
      const jsm = await nats.nc.jetstreamManager();
      await Promise.all([
        ensureClinicStreamAtStart(jsm, config.clinicId, logger, config.clinicStreamRetentionDays),
        ensureSendLogAtStart(jsm, config.clinicId, config.idempotencyWindowHours, logger),
      ]);
    } catch (err) {
      // NATS went away right after connecting: the stream is checked again at the next start.
      logger.warn({ err, cause: failureCause(err) }, 'cannot reach JetStream to check the clinic stream');
    }
    timeline.step('streams checked');
  })();
  // Binding looks nothing up (no request): the bucket is checked when the first send uses it.
  const sendLog = await KvSendLog.open(nats.nc, config.clinicId, config.channelId);
  // The clinic's send budget lives in the same bucket, bound the same way (pacing/clinic-budget.ts).
  const clinicBudget = await KvClinicBudget.open(
    nats.nc,
    config.clinicId,
    config.clinicSendBudget,
    logger.child({ module: 'pacing' }),
  );
  // Events queue at once but are published only after the stream check: a status published
  // before a new clinic's stream exists would fail and hold every later event in retries.
  const sink = createSink(
    config,
    nats,
    logger,
    metrics,
    (high) => {
      if (high) current.worker?.supervisor.sinkUnavailable();
    },
    streamsChecked,
  );
  // Pending, and any wait for S3 or KMS reported meanwhile, go out now, in order.
  status.sendTo(sink);

  const finish = async (code: number) => {
    await sink.close(3_000).catch(() => false);
    await nats.nc.close().catch(() => undefined);
    await closeServer(http);
    return code;
  };

  const taken = await taking;
  if (!taken.ok) return finish(failedToTake(taken.error, report, logger));
  let held = taken.value;
  await streamsChecked;
  void status.whenPhase('Connected').then(() => timeline.finish('Connected'));
  for (;;) {
    if (!held || stop.signal.aborted) {
      await held?.lease.release().catch(() => undefined);
      return finish(EXIT.ok);
    }
    const { lease, auth } = held;
    const worker = createWorker({
      config,
      nc: nats.nc,
      auth,
      lease,
      logger,
      metrics,
      sink,
      status,
      sendLog,
      clinicBudget,
    });
    current.worker = worker;
    // The LeaseLost status says why: "lease could not be renewed: S3 unreachable (…)".
    const stopListening = lease.lease.onLost((loss) =>
      worker.supervisor.leaseLost(loss.kind === 'unrenewable' ? leaseLossMessage(loss) : loss.detail),
    );
    // Pending was published before the lease; the supervisor starts from Pending too.
    worker.supervisor.start();
    worker.commands.start();
    timeline.step('session started');
    logger.info(
      { registered: auth.isRegistered(), pairing: config.pairing, epoch: lease.lease.epoch },
      'worker started',
    );

    const outcome = await Promise.race([worker.finished, stopSignal.then(() => undefined)]);
    stopListening();
    const loss = lease.lease.lossCause;
    if (outcome?.reason === REASONS.leaseLost && loss?.kind === 'unrenewable') {
      // The session is closed (the worker can no longer prove it holds the channel), the
      // process stays: take the lease back once S3 answers, then start a session again.
      logger.error({ err: loss.error, cause: failureCause(loss.error) }, leaseLossMessage(loss));
      await worker.endSession();
      current.worker = undefined;
      try {
        held = await took(hold.takeBack(lease));
      } catch (err) {
        return finish(failedToTake(err, report, logger));
      }
      continue;
    }
    await worker.shutdown();
    const finished = outcome ?? (await worker.finished);
    logger.info({ reason: finished.reason, exitCode: finished.exitCode }, 'worker stopped');
    await nats.nc.close().catch(() => undefined);
    await closeServer(http);
    return outcome ? finished.exitCode : EXIT.ok;
  }
}

/**
 * "lease could not be renewed: S3 unreachable (…)": what the clinic sees in the LeaseLost status;
 * a worker that was itself stalled says so instead of blaming S3.
 */
function leaseLossMessage(loss: Extract<LeaseLoss, { kind: 'unrenewable' }>): string {
  if (loss.error instanceof WorkerStalledError) return `lease could not be renewed: ${loss.error.message}`;
  return `lease could not be renewed: ${describeFailure('S3', loss.error)}`;
}

/** Reports why the channel could not be taken (or taken back), and returns the exit code. */
function failedToTake(
  err: unknown,
  report: (phase: Phase, reason: string, message?: string) => void,
  logger: Logger,
): number {
  if (err instanceof LeaseTakenError) {
    const message = `${err.message}; this worker stops`;
    logger.error({ holder: err.holder }, message);
    report('Disconnected', REASONS.leaseLost, message);
    return EXIT.channelTaken;
  }
  const reason = err instanceof StartFailure ? err.reason : 'StateUnreadable';
  const cause = err instanceof StartFailure ? err.cause : err;
  const message = err instanceof Error ? err.message : String(err);
  logger.error({ err: cause, cause: failureCause(cause), reason }, `cannot load the auth state: ${message}`);
  report('Error', reason, message);
  return EXIT.failed;
}

/** A promise's outcome as a value: awaited later, a rejection meanwhile is not "unhandled". */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export type { WorkerConfig, Logger, NatsHandle };

/** Sends the spans still buffered, for at most 3 s, then exits. */
async function exit(code: number): Promise<never> {
  await Promise.race([
    tracing?.shutdown().catch(() => undefined),
    new Promise((r) => setTimeout(r, 3_000).unref()),
  ]);
  process.exit(code);
}

main().then(
  (code) => exit(code),
  (err: unknown) => {
    // Before the logger exists, or a failure of the logging itself: the console still says why.
    const cause = failureCause(err);
    console.error(
      'worker failed:',
      `${cause.name}: ${cause.message}`,
      cause.target ? `(${cause.target})` : '',
    );
    process.exit(EXIT.failed);
  },
);
