/**
 * The cluster mode's wiring: the channel and pod caches, the work queue, and the reconciler
 * acting through the cluster's ports (kube-channel-store.ts, pod-runtime.ts). Any change to a
 * channel (except the operator's own status writes: predicate.ts), to its pod, or to its
 * worker's status report enqueues that channel.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION, type WhatsAppChannel } from '../../../contract/index.ts';
import type { OperatorConfig } from '../config.ts';
import { FIELD_MANAGER, KubeClient } from '../kube/client.ts';
import type { KubeConnection } from '../kube/connection.ts';
import { KubeHttp } from '../kube/http.ts';
import { keyOf, ResourceCache, type ResourceCacheOptions } from '../kube/resource-cache.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../metrics.ts';
import { StatusReports } from '../nats/status-reports.ts';
import { WORKER_POD_SELECTOR, workerPodName } from '../pod.ts';
import { S3ChannelStateEraser, type ChannelStateEraser } from '../storage/state-eraser.ts';
import { imageRefusal } from '../worker-image.ts';
import { AUDIT_STREAM, AuditTrail, ensureAuditStream } from '../../../contract/index.ts';
import { startCredentialIssuing } from '../nats/credentials-provisioner.ts';
import { LogoutAndErase } from './deletion.ts';
import { ChannelsByIdentity } from './channels-by-identity.ts';
import { KubeChannelStore } from './kube-channel-store.ts';
import { namespaceClinics } from './namespace-clinics.ts';
import { slimPod } from './pod-observation.ts';
import { PodRuntime } from './pod-runtime.ts';
import { waitsForWorker } from './queue-order.ts';
import { needsReconcile, slimManagedFields } from './predicate.ts';
import { Reconciler } from './reconciler.ts';
import { RolloutGate } from './rollout-gate.ts';
import { workerRevision } from '../worker-revision.ts';
import { WorkQueue } from './work-queue.ts';

export interface Controller {
  channels: ResourceCache<WhatsAppChannel>;
  pods: ResourceCache<V1Pod>;
  queue: WorkQueue;
  /** API writes by kind since start (also in the metrics). */
  writes: Map<string, number>;
  /** API requests by kind since start (lists and writes; watches not counted). */
  requests: Map<string, number>;
  /** Channel changes not reconciled: the operator's own status writes coming back (predicate.ts). */
  ownStatusWrites(): number;
  metrics: OperatorMetrics;
  ready(): boolean;
  /** Stops taking work and waits up to `timeoutMs` for reconciles in progress. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ControllerOptions {
  /** The process's metrics (created at start-up, so a standby serves them too). */
  metrics?: OperatorMetrics;
  /** Replaces the S3 eraser (tests). */
  eraser?: ChannelStateEraser;
  /** Cache tuning (tests). */
  cache?: Pick<ResourceCacheOptions<unknown>, 'silenceMs' | 'watchTimeoutSeconds'>;
  /** With WA_WATCH_NAMESPACE: how often that namespace's clinic label is read again (tests). */
  namespacePollMs?: number;
}

/** With WA_WATCH_NAMESPACE, a relabel of that namespace is seen within this long (namespace-clinics.ts). */
const NAMESPACE_POLL_MS = 10_000;

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

export async function startController(
  /** The API server (kube/connection.ts: loadKubeConnection). */
  connection: KubeConnection,
  config: OperatorConfig,
  /** A connection, or the promise of one: the controller manages pods while NATS is still down. */
  natsConnection: NatsConnection | Promise<NatsConnection>,
  logger: Logger,
  options: ControllerOptions = {},
): Promise<Controller> {
  let nc: NatsConnection | undefined;
  let ownStatusWrites = 0;
  const http = new KubeHttp(connection);
  const writes = new Map<string, number>();
  const requests = new Map<string, number>();
  const metrics = options.metrics ?? createOperatorMetrics();
  const kube = new KubeClient(http, (kind) => {
    bump(requests, kind);
    metrics.requests.inc({ kind });
  });
  const ns = config.watchNamespace;
  const queue = new WorkQueue(async (key) => {
    const end = metrics.duration.startTimer();
    try {
      const result = await reconciler.reconcile(key);
      metrics.reconciles.inc({ outcome: 'ok' });
      return result;
    } catch (err) {
      metrics.reconciles.inc({ outcome: 'error' });
      throw err;
    } finally {
      end();
    }
  }, config.concurrency);
  queue.onError = (key, err, attempt) =>
    logger.warn(
      { channel: key, attempt, err: String((err as Error)?.message ?? err) },
      'reconcile failed; retrying with backoff',
    );

  // A channel waiting for its worker pod goes before the others (queue-order.ts).
  const enqueue = (key: string) => {
    const c = channels.get(key);
    const hasPod = c !== undefined && pods.get(`${c.metadata.namespace}/${workerPodName(c)}`) !== undefined;
    if (c && waitsForWorker(c, hasPod)) queue.addFirst(key);
    else queue.add(key);
  };
  const onWrite = (what: string) => {
    bump(writes, what);
    metrics.writes.inc({ kind: what });
  };
  // clinic/channel ids → channel keys: the claims of an identity (identity.ts), and where a
  // worker's report goes, without scanning every channel.
  const byIdentity = new ChannelsByIdentity();
  /** Every other claim of the channel's identity: a change to one may change who owns it. */
  const otherClaims = (c: WhatsAppChannel) =>
    byIdentity.keys(c.spec?.clinicId, c.spec?.channelId).filter((k) => k !== keyOf(c));
  const cacheLog = (cache: string) => (what: string, err?: unknown) =>
    logger.warn({ cache, ...(err ? { err: String((err as Error)?.message ?? err) } : {}) }, what);
  const channels = new ResourceCache<WhatsAppChannel>({
    http,
    path: ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    list: () => kube.listChannels(ns),
    transform: slimManagedFields,
    onChange: (c, deleted, previous) => {
      if (deleted) byIdentity.set(keyOf(c), undefined, undefined);
      else byIdentity.set(keyOf(c), c.spec?.clinicId, c.spec?.channelId);
      if (deleted || needsReconcile(previous, c, FIELD_MANAGER)) {
        enqueue(keyOf(c));
        for (const other of otherClaims(c)) enqueue(other);
      } else ownStatusWrites++;
    },
    onProblem: cacheLog('channels'),
    resyncMs: config.resyncMs,
    ...options.cache,
  });
  const pods = new ResourceCache<V1Pod>({
    http,
    path: ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
    labelSelector: WORKER_POD_SELECTOR,
    list: () => kube.listWorkerPods(ns),
    transform: slimPod,
    onChange: (p) => {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
      if (owner) enqueue(`${p.metadata?.namespace}/${owner.name}`);
    },
    onProblem: cacheLog('pods'),
    resyncMs: config.resyncMs,
    ...options.cache,
  });
  // The clinic rule needs each namespace's clinic label; a relabel reconciles its channels.
  const namespaces = config.clinicNamespaceCheck
    ? namespaceClinics({
        http,
        kube,
        watchNamespace: ns,
        changed: (namespace) => {
          for (const c of channels.values()) if (c.metadata.namespace === namespace) enqueue(keyOf(c));
        },
        onProblem: cacheLog('namespaces'),
        resyncMs: config.resyncMs,
        pollMs: options.namespacePollMs ?? NAMESPACE_POLL_MS,
        cache: options.cache,
      })
    : undefined;
  const channelStore = new KubeChannelStore({ kube, channels, byIdentity, logger, onWrite });
  const rollout = new RolloutGate({
    policy: config.rollout,
    revision: workerRevision(config),
    channels: () => channels.values(),
    store: channelStore,
    wake: (keys) => {
      for (const key of keys) enqueue(key);
    },
    logger,
  });
  metrics.bind({
    channels: () => channels.values(),
    queueDepth: () => queue.depth,
    caches: () => ({ channels: channels.stats, pods: pods.stats }),
    rollout: () => rollout.summary(),
  });
  const reports = new StatusReports(() => nc);
  const eraser =
    options.eraser ?? new S3ChannelStateEraser({ region: config.s3.region, endpoint: config.s3.endpoint });
  const audit = new AuditTrail('operator', () => nc, logger);
  const issuing = config.natsIssuer
    ? await startCredentialIssuing(http, config, audit, () => nc, logger)
    : undefined;
  const reconciler = new Reconciler({
    channels: channelStore,
    rollout,
    clinicOf: namespaces && ((namespace) => namespaces.clinicOf(namespace)),
    workers: new PodRuntime({ config, kube, pods, onWrite }),
    reports,
    logger,
    audit,
    credentials: issuing?.provisioner,
    deletion: new LogoutAndErase({
      nc: () => nc,
      eraser,
      defaults: config.s3,
      timeoutMs: config.deletion.logoutTimeoutMs,
    }),
    deletionTimeoutMs: config.deletion.timeoutMs,
    workerPolicy: (channel) => imageRefusal(channel, config.worker.allowedRepositories),
    testEndpoint: config.worker.simulator?.url,
  });

  let stopped = false;
  void Promise.resolve(natsConnection).then(
    (connection) => {
      nc = connection;
      if (stopped) return;
      void keepAuditStream(connection, config.auditRetentionDays, logger);
      reports.start((r) => {
        for (const key of byIdentity.keys(r.clinicId, r.channelId)) enqueue(key);
      });
      logger.info('listening to worker status on NATS');
      // Channels that waited for NATS (their status could not be known) go again.
      for (const c of channels.values()) enqueue(keyOf(c));
    },
    (err: unknown) => logger.error({ err: String(err) }, 'NATS connection failed'),
  );
  // Pods and namespaces first: a channel must never be reconciled against an unsynced pod
  // cache, nor judged against a namespace label not read yet.
  await pods.start();
  await namespaces?.start();
  await channels.start();
  return {
    channels,
    pods,
    queue,
    writes,
    requests,
    ownStatusWrites: () => ownStatusWrites,
    metrics,
    ready: () => channels.synced() && pods.synced(),
    stop: async (timeoutMs = 0) => {
      stopped = true;
      reports.stop();
      await queue.stop(timeoutMs);
      channels.stop();
      pods.stop();
      namespaces?.stop();
      await issuing?.close();
    },
  };
}

/**
 * The audit stream (contract/audit-stream.ts) stores every audited action; the operator creates
 * it, or brings it to this release's settings, once connected. Not fatal: without it the log
 * lines are the record, and the audit trail says so.
 */
async function keepAuditStream(nc: NatsConnection, retentionDays: number, logger: Logger): Promise<void> {
  try {
    const result = await ensureAuditStream(await nc.jetstreamManager(), retentionDays);
    logger.info({ stream: AUDIT_STREAM, result, retentionDays }, 'audit stream ready');
  } catch (err) {
    logger.error({ err: String(err), stream: AUDIT_STREAM }, 'cannot create or update the audit stream');
  }
}
