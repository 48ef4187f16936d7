/**
 * Local mode: the operator's job without a cluster, through the cluster's own reconciler
 * (controller/reconciler.ts) with local ports. The manifests folder feeds the channel store
 * (local-channel-store.ts, the API server's stand-in: status, finalizer and progress live in
 * `<state dir>/status.json`), and child processes are the pods (process-workers.ts). The work
 * queue, the steps, the status function and the deletion policies are the cluster's, so the
 * phases, reasons, conditions and deletion behave as `kubectl get wac` shows them.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { NatsConnection } from 'nats';
import {
  AuditTrail,
  ensureAuditStream,
  openNatsConnection,
  type WhatsAppChannel,
} from '../../../contract/index.ts';
import { loadOrCreateKeyFile } from '../../../contract/local-key-file.ts';
import { LogoutAndErase } from '../controller/deletion.ts';
import { Reconciler } from '../controller/reconciler.ts';
import { WorkQueue } from '../controller/work-queue.ts';
import { StatusReports } from '../nats/status-reports.ts';
import { LocalChannelStateEraser } from '../storage/local-state-eraser.ts';
import { LocalChannelStore, type ChannelView, type LocalOperatorEvent } from './local-channel-store.ts';
import { ManifestFolder } from './manifest-folder.ts';
import { ProcessRuntime } from './process-runtime.ts';
import { ProcessWorkers } from './process-workers.ts';

export type { ChannelView, LocalOperatorEvent } from './local-channel-store.ts';

export interface LocalOperatorConfig {
  manifestsDir: string;
  stateDir: string;
  natsUrl: string;
  natsCredsFile?: string | undefined;
  /** Extra plain worker environment (the simulator's WA_WS_URL and WA_TRUST_ROOT, for instance). */
  workerExtraEnv?: Record<string, string>;
  workerLogLevel?: string;
  /** The fleet's WhatsApp Web version (the cluster's WA_WORKER_WA_WEB_VERSION); unset: Baileys' own. */
  waWebVersion?: string | undefined;
  nodePath: string;
  workerEntry: string;
  /** How long failing Logout steps are retried (the cluster's WA_DELETION_TIMEOUT_SECONDS; 300 s). */
  deletionTimeoutMs?: number;
  /** One logout request's wait (the cluster's WA_LOGOUT_TIMEOUT_SECONDS; 10 s). */
  logoutTimeoutMs?: number;
}

/** Channels reconciled at once (the cluster's WA_CONCURRENCY default is larger; one machine here). */
const CONCURRENCY = 4;

export class LocalOperator {
  private readonly config: LocalOperatorConfig;
  private readonly folder: ManifestFolder;
  private readonly runtime: ProcessRuntime;
  private readonly reports: StatusReports;
  private readonly store: LocalChannelStore;
  private readonly queue: WorkQueue;
  private readonly listeners: Array<(e: LocalOperatorEvent) => void> = [];
  private nc: NatsConnection | undefined;
  private unwatch: (() => void) | undefined;

  constructor(config: LocalOperatorConfig) {
    this.config = config;
    this.folder = new ManifestFolder(config.manifestsDir);
    this.runtime = new ProcessRuntime({
      nodePath: config.nodePath,
      workerEntry: config.workerEntry,
      onChange: (key) => {
        this.queue.add(key);
        this.store.save(); // status.json shows the worker's pid
      },
      log: (message, fields) => this.emit({ type: 'worker', message, fields }),
    });
    this.reports = new StatusReports(() => this.nc);
    this.store = new LocalChannelStore({
      statusFile: this.statusFile,
      emit: (e) => this.emit(e),
      changed: (key) => this.queue.add(key),
      workerOf: (key) => {
        const state = this.runtime.state(key);
        return {
          worker: state?.current ? { holder: state.current.holder, pid: state.current.pid } : undefined,
          restarts: state?.restarts ?? 0,
        };
      },
    });
    // Problems go to the console as lines; the reconciler's own log stays quiet.
    const logger = pino({ level: 'silent' });
    const reconciler = new Reconciler({
      channels: this.store,
      workers: new ProcessWorkers(this.runtime, {
        natsUrl: config.natsUrl,
        natsCredsFile: config.natsCredsFile,
        objectsDir: this.objectsDir,
        keyFile: this.keyFile,
        workerExtraEnv: config.workerExtraEnv,
        workerLogLevel: config.workerLogLevel,
        waWebVersion: config.waWebVersion,
        logFile: (channel) => this.logFile(channel),
      }),
      reports: this.reports,
      deletion: new LogoutAndErase({
        nc: () => this.nc,
        eraser: new LocalChannelStateEraser(this.objectsDir),
        defaults: { bucket: '', prefix: 'wa' },
        timeoutMs: config.logoutTimeoutMs ?? 10_000,
      }),
      deletionTimeoutMs: config.deletionTimeoutMs ?? 300_000,
      audit: new AuditTrail('operator', () => this.nc, logger),
      logger,
      // Workers pointed at the protocol simulator: every channel's status says so, as in a cluster.
      testEndpoint: config.workerExtraEnv?.WA_WS_URL,
    });
    this.queue = new WorkQueue((key) => reconciler.reconcile(key), CONCURRENCY);
    // As the cluster operator logs a failed reconcile: a warning, retried with backoff.
    this.queue.onError = (key, err) =>
      this.emit({
        type: 'event',
        key,
        kind: 'Warning',
        reason: 'ReconcileFailed',
        message: `${String((err as Error)?.message ?? err)}; retrying`,
      });
  }

  get keyFile(): string {
    return join(this.config.stateDir, 'local.key');
  }
  get objectsDir(): string {
    return join(this.config.stateDir, 'objects');
  }
  get statusFile(): string {
    return join(this.config.stateDir, 'status.json');
  }
  logFile(channel: WhatsAppChannel): string {
    return join(this.config.stateDir, 'logs', `${channel.spec.clinicId}.${channel.spec.channelId}.log`);
  }

  on(listener: (e: LocalOperatorEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Creates the state folder and key, connects to NATS, reads status.json, then follows the folder. */
  async start(): Promise<void> {
    await mkdir(join(this.config.stateDir, 'logs'), { recursive: true, mode: 0o700 });
    await mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
    // Created once here, so the workers starting together never race to create it.
    await loadOrCreateKeyFile(this.keyFile);
    this.nc = await openNatsConnection({
      url: this.config.natsUrl,
      name: 'wa-local-operator',
      credsFile: this.config.natsCredsFile,
      reconnect: 'forever',
    });
    this.reports.start((report) => {
      for (const c of this.store.view())
        if (c.clinicId === report.clinicId && c.channelId === report.channelId) this.queue.add(c.key);
    });
    await this.nc.flush();
    // The audit trail's stream, as the cluster's operator keeps it (default retention).
    await ensureAuditStream(await this.nc.jetstreamManager()).catch((err: unknown) =>
      this.emit({
        type: 'problem',
        problem: { file: this.config.natsUrl, message: `cannot create the audit stream: ${String(err)}` },
      }),
    );
    await this.store.restore();
    await new Promise<void>((resolve, reject) => {
      let first = true;
      this.unwatch = this.folder.watch(
        (desired) => {
          this.store.apply(desired);
          if (first) resolve();
          first = false;
        },
        (err) => {
          if (first) reject(err);
          first = false;
          this.emit({ type: 'problem', problem: { file: this.config.manifestsDir, message: err.message } });
        },
      );
    });
  }

  /** Stops every worker (gracefully: they release their leases), then NATS. */
  async stop(): Promise<void> {
    this.unwatch?.();
    await this.queue.stop(30_000);
    await this.runtime.stopAll();
    this.reports.stop();
    this.store.save();
    await this.store.flush();
    await this.nc?.drain().catch(() => undefined);
  }

  /** The channels and their status now (what `status.json` holds). */
  view(): ChannelView[] {
    return this.store.view();
  }

  private emit(e: LocalOperatorEvent): void {
    for (const l of this.listeners) l(e);
  }
}
