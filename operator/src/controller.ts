/**
 * Wires the caches, the queue and the reconciler together: any change to a channel,
 * to its pod, or to its worker's status report enqueues that channel.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { GROUP, LABELS, PLURAL, VERSION, type WhatsAppChannel } from '../../contract/index.ts';
import { S3ObjectStore } from '../../worker/src/auth-store/object-store.ts';
import type { OperatorConfig } from './config.ts';
import { LogoutAndErase } from './deletion.ts';
import { KubeClient } from './kube-client.ts';
import { keyOf, ResourceCache } from './resource-cache.ts';
import { Reconciler } from './reconciler.ts';
import { WorkQueue } from './work-queue.ts';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';
import { WorkerReports } from './worker-reports.ts';

export interface Controller {
  channels: ResourceCache<WhatsAppChannel>;
  pods: ResourceCache<V1Pod>;
  queue: WorkQueue;
  writes: Map<string, number>;
  metrics: OperatorMetrics;
  stop(): void;
}

export async function startController(
  kc: KubeConfig,
  config: OperatorConfig,
  nc: NatsConnection,
  logger: Logger,
): Promise<Controller> {
  const kube = new KubeClient(kc);
  const ns = config.watchNamespace;
  const writes = new Map<string, number>();
  // The handler runs only after start-up, when the reconciler below exists.
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
  const enqueue = (key: string) => queue.add(key);

  const channels = new ResourceCache<WhatsAppChannel>({
    kc,
    path: ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    list: () => kube.listChannels(ns),
    onChange: (c) => enqueue(keyOf(c)),
    onError: (err) => logger.warn({ err: String(err) }, 'channel watch'),
    resyncMs: config.resyncSeconds * 1000,
  });
  const pods = new ResourceCache<V1Pod>({
    kc,
    path: ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
    labelSelector: `${LABELS.managedBy}=whatsapp-operator`,
    list: () => kube.listWorkerPods(ns),
    onChange: (p) => {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
      if (owner) enqueue(`${p.metadata?.namespace}/${owner.name}`);
    },
    onError: (err) => logger.warn({ err: String(err) }, 'pod watch'),
    resyncMs: config.resyncSeconds * 1000,
  });
  const reports = new WorkerReports();
  const metrics = createOperatorMetrics(
    () => channels.values(),
    () => queue.depth,
  );
  const reconciler = new Reconciler({
    config,
    kube,
    channels,
    pods,
    reports,
    deletion: new LogoutAndErase({
      nc,
      store: (bucket) =>
        new S3ObjectStore(bucket, {
          region: config.s3.region,
          forcePathStyle: Boolean(config.s3.endpoint),
          ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
        }),
      defaults: config.s3,
      logger,
      maxAttempts: config.deletionAttempts,
      timeoutMs: config.logoutTimeoutMs,
    }),
    onWrite: (what) => {
      writes.set(what, (writes.get(what) ?? 0) + 1);
      metrics.writes.inc({ kind: what });
    },
  });
  queue.onError = (key, err) =>
    logger.warn({ key, err: String(err) }, 'reconcile failed; retrying with backoff');

  reports.start(nc, (r) => {
    for (const c of channels.values()) {
      if (c.spec.clinicId === r.clinicId && c.spec.channelId === r.channelId) enqueue(keyOf(c));
    }
  });
  await pods.start();
  await channels.start();
  return {
    channels,
    pods,
    queue,
    writes,
    metrics,
    stop: () => {
      queue.stop();
      channels.stop();
      pods.stop();
      reports.stop();
    },
  };
}
