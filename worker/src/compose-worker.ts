/**
 * Puts the worker together once the process has its configuration, a NATS connection, the
 * lease and the loaded auth state (main.ts does those steps, in that order). Wiring only: each
 * policy lives in its own module — reconnects and pairing in session/, the sink watchdog in
 * session/sink-watchdog.ts, health rules in ops/health.ts, the SIGTERM order in shutdown.ts.
 */
import type { Logger } from 'pino';
import type { NatsConnection } from 'nats';
import { channelSubjects, PAYLOAD_VERSION } from '../../contract/index.ts';
import { CommandServer } from './commands/server.ts';
import { InboundMedia } from './media/inbound-media.ts';
import { MediaCommands } from './media/media-commands.ts';
import type { MediaStore } from './media/media-store.ts';
import type { SendLog } from './commands/send-log.ts';
import type { WorkerConfig } from './config.ts';
import type { NatsHandle } from './events/nats.ts';
import { attachSessionEvents } from './events/session-events.ts';
import { EventSink } from './events/sink.ts';
import type { StatusPublisher } from './events/status-publisher.ts';
import { makeBreaker } from './ops/breakers.ts';
import { runningWorkerHealth } from './ops/health.ts';
import type { HealthSource } from './ops/http.ts';
import { baileysLogger } from './ops/log.ts';
import { AckSpans, tracedSession } from './ops/traced-session.ts';
import type { Metrics } from './ops/metrics.ts';
import { dependencyReadiness } from './session/dependency-readiness.ts';
import { InboundGate } from './session/inbound-gate.ts';
import { systemClock, type AuthStateHandle, type LeaseHandle } from './session/ports.ts';
import {
  DEFAULT_HISTORY_WINDOWS,
  DEFAULT_RECONNECT_PARAMS,
  type ReconnectParams,
} from './session/reconnect-policy.ts';
import { watchEventSink } from './session/sink-watchdog.ts';
import { createPacing } from './pacing/compose-pacing.ts';
import type { ClinicBudget } from './pacing/governor.ts';
import { makeSocketFactory } from './session/socket-factory.ts';
import { Supervisor, type Finished } from './session/supervisor.ts';
import { orderedShutdown } from './shutdown.ts';
import { announcedVersion, withVersionAdvice } from './wa-web-version.ts';

export type { AuthStateHandle, LeaseHandle };

export interface Worker {
  supervisor: Supervisor;
  sink: EventSink;
  commands: CommandServer;
  health: HealthSource;
  /** Resolves when the worker should exit. */
  finished: Promise<Finished>;
  /** SIGTERM: stop commands, close the socket (no logout), flush, drain events (shutdown.ts). */
  shutdown(): Promise<void>;
  /** After the lease was lost to an outage: stop commands and the session; sink and lease stay. */
  endSession(): Promise<void>;
}

export interface WorkerParts {
  config: WorkerConfig;
  nc: NatsConnection;
  auth: AuthStateHandle;
  lease: LeaseHandle;
  logger: Logger;
  metrics: Metrics;
  /** Created by main before the state was loaded (Pending is published first). */
  sink: EventSink;
  /** The one status producer start-up published Pending through. */
  status: StatusPublisher;
  /** The channel's durable record of sends (commands/send-log.ts). */
  sendLog: SendLog;
  /** The clinic's send budget shared by its channels (pacing/clinic-budget.ts); none: not shared. */
  clinicBudget?: ClinicBudget | undefined;
  reconnect?: Partial<ReconnectParams>;
}

export function createSink(
  config: WorkerConfig,
  nats: NatsHandle,
  logger: Logger,
  metrics: Metrics,
  onPressure: (high: boolean) => void,
  startAfter?: Promise<unknown>,
): EventSink {
  return new EventSink({
    ...(startAfter ? { startAfter } : {}),
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

export function createWorker(parts: WorkerParts): Worker {
  const { config, logger, metrics, sink, auth, lease } = parts;
  const gate = new InboundGate({
    deliver: sink.deliverInbound,
    ...(auth.pipeline
      ? { pipeline: { prepare: sink.prepareInbound, commitAfter: auth.pipeline.commitAfter } }
      : {}),
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
  // Store failures surface inside Baileys' callbacks, which only run once the supervisor below
  // has opened a socket; the supervisor decides what a failure means (lease lost or restart).
  const onStoreFailure = (err: unknown) => supervisor.storeFailed(err);
  const createSocket = makeSocketFactory({
    auth: () => auth.current(),
    ...(auth.pipeline ? { pipeline: auth.pipeline } : {}),
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
  // The `whatsapp.ack` spans of sends (with tracing on), ended by the server's acks.
  const acks = new AckSpans(config.sendAckTimeoutMs);
  const supervisor: Supervisor = new Supervisor({
    options: {
      reconnect: {
        ...DEFAULT_RECONNECT_PARAMS,
        onLoggedOut: config.onLoggedOut,
        onBanned: config.onBanned,
        ...parts.reconnect,
      },
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
    lease,
    // A 405's status says which version was refused and which setting to change.
    status: { publish: (report) => parts.status.publish(withVersionAdvice(report, version)) },
    hooks: {
      pairing: (payload) => sink.publishPairing(payload),
      attach: (socket) =>
        attachSessionEvents(socket, {
          ids: { clinicId: config.clinicId, channelId: config.channelId },
          gate,
          sink,
          saveCreds: () => auth.saveCreds(),
          onStoreFailure,
          onServerAck: (id) => {
            acks.acked(id);
            supervisor.messageAcked(id);
          },
          onInboundFrom: (jid) => pacing.inboundFrom(jid),
          onSendRefused: (code) => pacing.ackRefused(code),
          metrics,
          logger,
        }),
      dependencyReady: dependencyReadiness({
        events: sink,
        store: { breakerOpen: () => storeBreaker.opened, healthy: () => auth.healthy() },
      }),
      closed: (decision) => metrics.reconnects.inc({ reason: decision.reason, decision: decision.kind }),
      recycled: (reason) => metrics.recycles.inc({ reason }),
    },
    clock: systemClock,
    random: Math.random,
    logger: logger.child({ module: 'supervisor' }),
    keepSent: auth.sentMessages ? (id, message) => auth.sentMessages!.put(id, message) : undefined,
  });

  const media = auth.media ? composeMedia(config, auth.media, supervisor, sink, metrics, logger) : undefined;

  const pacing = createPacing(
    config,
    auth,
    metrics,
    logger.child({ module: 'pacing' }),
    (p) => parts.status.setPacing(p),
    parts.clinicBudget,
  );
  const commands = new CommandServer({
    nc: parts.nc,
    subject: channelSubjects(config.clinicId, config.channelId).commands,
    maxBytes: config.maxCommandBytes,
    idempotencyCapacity: config.idempotencyCapacity,
    sendLog: parts.sendLog,
    session: tracedSession(supervisor, acks),
    media: media?.commands,
    pacing: pacing.sends,
    metrics,
    logger: logger.child({ module: 'commands' }),
  });

  const stopWatching = watchEventSink(supervisor, sink);
  const shutdown = orderedShutdown({
    stopWatching,
    commands,
    session: supervisor,
    events: {
      close: (timeoutMs) => sink.close(timeoutMs),
      get waiting() {
        return sink.outbox.size;
      },
    },
    lease,
    graceMs: config.shutdownGraceMs,
    logger,
  });
  const health = runningWorkerHealth({ lease, session: supervisor, events: sink });
  const finished = supervisor.finished.finally(() => media?.stopSweeping());
  return {
    supervisor,
    sink,
    commands,
    health,
    finished,
    shutdown,
    endSession: shutdown.endSession,
  };
}

/** The sweep of stored attachments runs this often (and once shortly after start). */
const MEDIA_SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * Inbound attachments are stored before their message is published (the sink asks), the media
 * verbs are served from the same store, and a timer deletes what is past the retention.
 */
function composeMedia(
  config: WorkerConfig,
  store: MediaStore,
  session: Supervisor,
  sink: EventSink,
  metrics: Metrics,
  logger: Logger,
) {
  const log = logger.child({ module: 'media' });
  const inbound = new InboundMedia({
    store,
    maxBytes: config.mediaMaxBytes,
    downloadTimeoutMs: config.mediaDownloadTimeoutMs,
    reupload: (message) => session.reuploadMedia(message),
    logger: log,
    count: (outcome) => metrics.mediaIn.inc({ outcome }),
  });
  sink.captureMedia = (message, signal) => inbound.capture(message, signal);
  const commands = new MediaCommands({
    store,
    inbound,
    maxBytes: config.mediaMaxBytes,
    published: (id, chat, media) =>
      sink.publishUpdates([
        {
          v: PAYLOAD_VERSION,
          clinicId: config.clinicId,
          channelId: config.channelId,
          id,
          chat,
          fromMe: false,
          update: 'media',
          media,
          timestamp: Math.floor(Date.now() / 1000),
        },
      ]),
  });
  const sweep = () =>
    store
      .sweep(Date.now(), config.mediaRetentionMs)
      .then((removed) => removed && log.info({ removed }, 'media past retention or abandoned removed'))
      .catch((err: unknown) => log.warn({ err }, 'media sweep failed; trying again later'));
  const first = setTimeout(sweep, 60_000);
  const every = setInterval(sweep, MEDIA_SWEEP_EVERY_MS);
  first.unref();
  every.unref();
  return {
    commands,
    stopSweeping: () => {
      clearTimeout(first);
      clearInterval(every);
    },
  };
}
