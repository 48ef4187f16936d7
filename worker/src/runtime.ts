/**
 * Puts the worker together once the process has its configuration, a NATS connection, the
 * lease and the loaded auth state (main.ts does those steps, in that order). Kept apart from
 * main.ts so the composition has one job: wiring, no process concerns.
 */
import type { AuthenticationCreds, SignalKeyStore } from '@whiskeysockets/baileys';
import type { NatsConnection } from 'nats';
import type { proto } from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import { CommandServer } from './commands/server.ts';
import type { WorkerConfig } from './config.ts';
import type { NatsHandle } from './events/nats.ts';
import { attachSessionEvents } from './events/session-events.ts';
import { EventSink } from './events/sink.ts';
import { channelSubjects } from '../../contract/index.ts';
import { makeBreaker } from './ops/breakers.ts';
import type { HealthSource } from './ops/http.ts';
import { baileysLogger } from './ops/log.ts';
import { setPhase, type Metrics } from './ops/metrics.ts';
import { InboundGate } from './session/inbound-gate.ts';
import { systemClock, type AuthStatePort, type LeasePort } from './session/ports.ts';
import {
  DEFAULT_HISTORY_WINDOWS,
  DEFAULT_RECONNECT_PARAMS,
  REASONS,
  type ReconnectParams,
} from './session/reconnect-policy.ts';
import { makeSocketFactory } from './session/socket-factory.ts';
import { Supervisor, type Finished } from './session/supervisor.ts';
import { announcedVersion, withVersionAdvice } from './wa-web-version.ts';

/** The loaded auth state, as the worker uses it (adapter over worker/src/state). */
export interface AuthStateHandle extends AuthStatePort {
  /** The live creds object and key store (replaced after quarantine/erase). */
  current(): { creds: AuthenticationCreds; keys: SignalKeyStore };
  /** Persists the whole current creds object; single-flight in the store. */
  saveCreds(): Promise<void>;
  /** Errors that mean "another worker owns the channel", not "the store is broken". */
  isFencingError(err: unknown): boolean;
  /** Sent messages kept (encrypted, bounded) for Baileys' getMessage retries. */
  sentMessages?: {
    get(id: string): Promise<proto.IMessage | undefined>;
    put(id: string, message: proto.IMessage): Promise<void>;
  };
}

export interface LeaseHandle extends LeasePort {
  /** Renewals are current (for liveness: a wedged renewal loop is a wedged worker). */
  renewing(): boolean;
  release(): Promise<void>;
  /** Called once if the lease is lost while held (renewal refused or expired). */
  onLost?(listener: () => void): void;
}

export interface Worker {
  supervisor: Supervisor;
  sink: EventSink;
  commands: CommandServer;
  health: HealthSource;
  /** Resolves when the worker should exit. */
  finished: Promise<Finished>;
  /** SIGTERM: stop commands, close the socket (no logout), flush, drain events. */
  shutdown(): Promise<void>;
}

export interface WorkerDeps {
  config: WorkerConfig;
  nc: NatsConnection;
  auth: AuthStateHandle;
  lease: LeaseHandle;
  logger: Logger;
  metrics: Metrics;
  /** Created by main before the state was loaded (Pending is published first). */
  sink: EventSink;
  reconnect?: Partial<ReconnectParams>;
}

export function createSink(
  config: WorkerConfig,
  nats: NatsHandle,
  logger: Logger,
  metrics: Metrics,
  onPressure: (high: boolean) => void,
): EventSink {
  return new EventSink({
    nc: nats.nc,
    connected: nats.connected,
    subjects: channelSubjects(config.clinicId, config.channelId),
    ids: {
      clinicId: config.clinicId,
      channelId: config.channelId,
      worker: config.leaseHolder,
      waWebVersion: announcedVersion(config.waWebVersion).text,
    },
    capacity: config.outboxCapacity,
    metrics,
    logger: logger.child({ module: 'events' }),
    makeBreaker: (publish) => makeBreaker('nats', publish, { logger, metrics }, { timeoutMs: 10_000 }),
    stallAfterMs: 15_000,
    onPressure,
  });
}

export function createWorker(d: WorkerDeps): Worker {
  const { config, logger, metrics, sink, auth } = d;
  const subjects = channelSubjects(config.clinicId, config.channelId);
  const reconnect: ReconnectParams = {
    ...DEFAULT_RECONNECT_PARAMS,
    onLoggedOut: config.onLoggedOut,
    onBanned: config.onBanned,
    ...d.reconnect,
  };
  // Store callbacks are created before the supervisor they report to.
  const late: { supervisor?: Supervisor } = {};
  const onStoreFailure = (err: unknown) => {
    if (auth.isFencingError(err)) late.supervisor?.leaseLost();
    else late.supervisor?.storeFailed(err);
  };
  const gate = new InboundGate({
    deliver: sink.deliverInbound,
    me: () => {
      const me = auth.current().creds.me;
      return { id: me?.id ?? '', lid: me?.lid ?? '' };
    },
  });
  const storeBreaker = makeBreaker(
    'auth-store',
    <T>(call: () => Promise<T>) => call(),
    { logger, metrics },
    { isHealthyError: (err) => auth.isFencingError(err) },
  );
  const createSocket = makeSocketFactory({
    auth: () => auth.current(),
    waWebSocketUrl: config.waWebSocketUrl,
    waWebVersion: config.waWebVersion,
    logger: baileysLogger(logger),
    metrics,
    storeBreaker: <T>(call: () => Promise<T>) => storeBreaker.fire(call) as Promise<T>,
    onStoreFailure,
    getMessage: async (id) => {
      try {
        return await auth.sentMessages?.get(id);
      } catch (err) {
        // undefined makes Baileys skip this resend; never a placeholder (docs/state-store.md).
        logger.warn({ err }, 'could not read a sent message for a retry');
        return undefined;
      }
    },
  });
  const version = announcedVersion(config.waWebVersion);
  const supervisor = new Supervisor({
    options: {
      reconnect,
      windows: DEFAULT_HISTORY_WINDOWS,
      maxQrCodes: config.maxQrCodes,
      pairing: config.pairing,
      phoneNumber: config.phoneNumber,
      deaf: {
        silentAfterMs: config.deafAfterMs,
        sendAckTimeoutMs: config.sendAckTimeoutMs,
        maxSelfCheckFailures: 2,
      },
      selfCheckIntervalMs: config.selfCheckIntervalMs,
      selfCheckTimeoutMs: Math.min(20_000, config.selfCheckIntervalMs),
    },
    createSocket,
    gate,
    auth,
    lease: d.lease,
    hooks: {
      status: (report) => {
        setPhase(metrics, report.phase as never);
        metrics.degraded.set(report.degraded ? 1 : 0);
        sink.publishStatus(withVersionAdvice(report, version));
      },
      pairing: (p) => sink.publishPairing(p),
      attach: (socket) =>
        attachSessionEvents(socket, {
          ids: { clinicId: config.clinicId, channelId: config.channelId },
          gate,
          sink,
          saveCreds: () => auth.saveCreds(),
          onStoreFailure,
          onServerAck: (id) => supervisor.messageAcked(id),
          metrics,
          logger,
        }),
      dependencyReady: async (reason) => {
        if (reason === REASONS.eventSinkUnavailable) return sink.healthy();
        if (reason === REASONS.storeUnavailable) return !storeBreaker.opened && (await auth.healthy());
        return true;
      },
      closed: (decision) => metrics.reconnects.inc({ reason: decision.reason, decision: decision.kind }),
      recycled: (reason) => metrics.recycles.inc({ reason }),
    },
    clock: systemClock,
    random: Math.random,
    logger: logger.child({ module: 'supervisor' }),
    keepSent: auth.sentMessages ? (id, message) => auth.sentMessages!.put(id, message) : undefined,
  });
  late.supervisor = supervisor;

  const commands = new CommandServer({
    nc: d.nc,
    subject: subjects.commands,
    maxBytes: config.maxCommandBytes,
    idempotencyCapacity: config.idempotencyCapacity,
    session: supervisor,
    metrics,
    logger: logger.child({ module: 'commands' }),
  });

  const health: HealthSource = {
    live: () => {
      const lease = d.lease.renewing();
      return { ok: lease, detail: { lease, phase: supervisor.phase } };
    },
    ready: () => {
      const connected = supervisor.phase === 'Connected';
      const events = sink.healthy();
      return {
        ok: connected && events && !supervisor.degraded,
        detail: { phase: supervisor.phase, reason: supervisor.reason, events, degraded: supervisor.degraded },
      };
    },
  };

  // While a socket is up, JetStream must take events; if it stops (stalled publishes, open
  // breaker, NATS disconnected, outbox above high water), close the socket so nothing more is
  // acknowledged to WhatsApp. The supervisor reconnects once the sink is healthy again.
  const watchdog = setInterval(() => {
    if (supervisor.hasSocket && sink.stalled()) supervisor.sinkUnavailable();
  }, 1_000);
  watchdog.unref();

  let shuttingDown: Promise<void> | undefined;
  const shutdown = () =>
    (shuttingDown ??= (async () => {
      const grace = config.shutdownGraceMs;
      logger.info({ graceMs: grace }, 'shutting down');
      clearInterval(watchdog);
      await commands.stop();
      await supervisor.shutdown();
      const drained = await sink.close(Math.max(1_000, grace / 2));
      if (!drained) logger.warn({ waiting: sink.outbox.size }, 'events left unpublished at shutdown');
      await d.lease.release().catch((err: unknown) => logger.error({ err }, 'lease release failed'));
    })());

  return { supervisor, sink, commands, health, finished: supervisor.finished, shutdown };
}
