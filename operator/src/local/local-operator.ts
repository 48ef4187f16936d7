/**
 * Local mode: the operator's job without a cluster. The manifests folder is the desired
 * state (manifest-folder.ts), child processes are the pods (process-runtime.ts), and the
 * channel's status is computed by the cluster operator's own function
 * (controller/status.ts) from the workers' NATS reports (nats/status-reports.ts), so the
 * phases, reasons and conditions are the same as `kubectl get wac` shows.
 *
 * Each worker gets the environment a pod gets (docs/worker-env.md), except that its state
 * lives in `<state dir>/objects` (WA_STATE_DIR) and its data keys are wrapped by
 * `<state dir>/local.key` (WA_KEY_FILE) instead of S3 and KMS. The status of every channel
 * is written to `<state dir>/status.json` (the local `kubectl get wac -o json`).
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import {
  openNatsConnection,
  type StatusEvent,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';
import { loadOrCreateKeyFile } from '../../../contract/local-key-file.ts';
import { desiredStatus, statusDiffers } from '../controller/status.ts';
import { StatusReports } from '../nats/status-reports.ts';
import { channelWorkerEnv, workerPodName } from '../pod.ts';
import { ManifestFolder, type DesiredChannels, type ManifestProblem } from './manifest-folder.ts';
import { ProcessRuntime, type WorkerProcessState } from './process-runtime.ts';

export interface LocalOperatorConfig {
  manifestsDir: string;
  stateDir: string;
  natsUrl: string;
  natsCredsFile?: string | undefined;
  /** Extra plain worker environment (the simulator's WA_WS_URL and WA_TRUST_ROOT, for instance). */
  workerExtraEnv?: Record<string, string>;
  workerLogLevel?: string;
  nodePath: string;
  workerEntry: string;
}

export type LocalOperatorEvent =
  | { type: 'problem'; problem: ManifestProblem }
  | { type: 'phase'; key: string; channel: WhatsAppChannel; status: WhatsAppChannelStatus }
  | { type: 'removed'; key: string }
  /** Worker processes started, restarted after back-off, or failing to start. */
  | { type: 'worker'; message: string; fields: Record<string, unknown> };

export interface ChannelView {
  key: string;
  clinicId: string;
  channelId: string;
  status: WhatsAppChannelStatus;
  worker: { holder: string; pid: number } | undefined;
  restarts: number;
}

export class LocalOperator {
  private readonly c: LocalOperatorConfig;
  private readonly folder: ManifestFolder;
  private readonly runtime: ProcessRuntime;
  private readonly reports: StatusReports;
  private readonly channels = new Map<string, WhatsAppChannel>();
  private readonly listeners: Array<(e: LocalOperatorEvent) => void> = [];
  private nc: NatsConnection | undefined;
  private unwatch: (() => void) | undefined;
  private reportedProblems = new Set<string>();
  private applying = Promise.resolve();
  private writingStatus = Promise.resolve();
  private statusWriteWaiting = false;

  constructor(config: LocalOperatorConfig) {
    this.c = config;
    this.folder = new ManifestFolder(config.manifestsDir);
    this.runtime = new ProcessRuntime({
      nodePath: config.nodePath,
      workerEntry: config.workerEntry,
      onChange: (key) => this.refresh(key),
      log: (message, fields) => this.emit({ type: 'worker', message, fields }),
    });
    this.reports = new StatusReports(() => this.nc);
  }

  get keyFile(): string {
    return join(this.c.stateDir, 'local.key');
  }
  get objectsDir(): string {
    return join(this.c.stateDir, 'objects');
  }
  get statusFile(): string {
    return join(this.c.stateDir, 'status.json');
  }
  logFile(channel: WhatsAppChannel): string {
    return join(this.c.stateDir, 'logs', `${channel.spec.clinicId}.${channel.spec.channelId}.log`);
  }

  on(listener: (e: LocalOperatorEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Creates the state folder and key, connects to NATS, then follows the manifests folder. */
  async start(): Promise<void> {
    await mkdir(join(this.c.stateDir, 'logs'), { recursive: true, mode: 0o700 });
    await mkdir(this.objectsDir, { recursive: true, mode: 0o700 });
    // Created once here, so the workers starting together never race to create it.
    await loadOrCreateKeyFile(this.keyFile);
    this.nc = await openNatsConnection({
      url: this.c.natsUrl,
      name: 'wa-local-operator',
      credsFile: this.c.natsCredsFile,
      reconnect: 'forever',
    });
    this.reports.start((report) => this.onReport(report));
    await this.nc.flush();
    await new Promise<void>((resolve, reject) => {
      let first = true;
      this.unwatch = this.folder.watch(
        (desired) => {
          const applied = this.applying.then(() => this.apply(desired));
          // One failed apply (a worker that cannot be spawned…) must not stop later changes.
          this.applying = applied.catch((err: Error) =>
            this.emit({
              type: 'problem',
              problem: {
                file: this.c.manifestsDir,
                message: `applying the manifests failed: ${err.message}`,
              },
            }),
          );
          if (first) void applied.then(resolve, reject);
          first = false;
        },
        (err) => {
          if (first) reject(err);
          first = false;
          this.emit({ type: 'problem', problem: { file: this.c.manifestsDir, message: err.message } });
        },
      );
    });
  }

  /** Stops every worker (gracefully: they release their leases), then NATS. */
  async stop(): Promise<void> {
    this.unwatch?.();
    await this.applying.catch(() => undefined);
    await this.runtime.stopAll();
    this.reports.stop();
    await this.writingStatus;
    await this.nc?.drain().catch(() => undefined);
  }

  /** The channels and their status now (what `status.json` holds). */
  view(): ChannelView[] {
    return [...this.channels.entries()].map(([key, channel]) => {
      const state = this.runtime.state(key);
      return {
        key,
        clinicId: channel.spec.clinicId,
        channelId: channel.spec.channelId,
        status: channel.status!,
        worker: state?.current ? { holder: state.current.holder, pid: state.current.pid } : undefined,
        restarts: state?.restarts ?? 0,
      };
    });
  }

  private emit(e: LocalOperatorEvent): void {
    for (const l of this.listeners) l(e);
  }

  private async apply(desired: DesiredChannels): Promise<void> {
    const problems = new Set<string>();
    for (const p of desired.problems) {
      const id = `${p.file}: ${p.message}`;
      problems.add(id);
      if (!this.reportedProblems.has(id)) this.emit({ type: 'problem', problem: p });
    }
    for (const key of [...this.channels.keys()]) {
      if (desired.channels.has(key)) continue;
      const gone = this.channels.get(key)!;
      this.channels.delete(key);
      await this.runtime.remove(key);
      this.reports.forget(gone.spec.clinicId, gone.spec.channelId);
      this.emit({ type: 'removed', key });
    }
    for (const [key, channel] of desired.channels) {
      const before = this.channels.get(key);
      if (
        before &&
        (before.spec.clinicId !== channel.spec.clinicId || before.spec.channelId !== channel.spec.channelId)
      ) {
        // Immutable, as the CRD's CEL rules make them in a cluster: the worker keeps running as it was.
        const message = `${key}: spec.clinicId and spec.channelId cannot change (delete the manifest and add a new one); the change is ignored`;
        if (!this.reportedProblems.has(message))
          this.emit({ type: 'problem', problem: { file: key, message } });
        problems.add(message);
        continue;
      }
      channel.metadata.generation =
        (before?.metadata.generation ?? 0) +
        (before && JSON.stringify(before.spec) === JSON.stringify(channel.spec) ? 0 : 1);
      if (before?.status) channel.status = before.status;
      this.channels.set(key, channel);
      if (channel.spec.suspend) await this.runtime.remove(key);
      else {
        const env = this.workerEnv(channel);
        await this.runtime.ensure({
          key,
          name: workerPodName(channel),
          env,
          // A changed environment replaces the worker, as a changed pod spec does.
          specHash: createHash('sha256').update(JSON.stringify(env)).digest('hex'),
          logFile: this.logFile(channel),
        });
      }
      this.refresh(key);
    }
    this.reportedProblems = problems;
    this.saveStatus();
  }

  /** The environment of a pod (docs/worker-env.md), with the local drivers instead of S3 and KMS. */
  private workerEnv(channel: WhatsAppChannel): Record<string, string> {
    const s = channel.spec;
    return {
      PATH: process.env.PATH ?? '',
      ...channelWorkerEnv(s, { natsUrl: this.c.natsUrl, logLevel: this.c.workerLogLevel ?? 'info' }),
      ...(this.c.natsCredsFile ? { NATS_CREDS_FILE: this.c.natsCredsFile } : {}),
      WA_STATE_DIR: this.objectsDir,
      WA_S3_PREFIX: s.storage?.prefix ?? 'wa',
      WA_KEY_FILE: this.keyFile,
      ...this.c.workerExtraEnv,
    };
  }

  private onReport(report: StatusEvent): void {
    for (const [key, channel] of this.channels) {
      if (channel.spec.clinicId === report.clinicId && channel.spec.channelId === report.channelId)
        this.refresh(key);
    }
  }

  /** Recomputes a channel's status with the cluster operator's function; emits phase changes. */
  private refresh(key: string): void {
    const channel = this.channels.get(key);
    if (!channel) return;
    const state = this.runtime.state(key);
    const pod = asPod(state);
    const report = this.reports.get(channel.spec.clinicId, channel.spec.channelId, state?.current?.holder);
    const status = desiredStatus({ channel, pod, report, now: new Date().toISOString() });
    const before = channel.status;
    channel.status = status;
    // status.json follows every change (as the cluster operator writes the status subresource);
    // the console hears only of phase and Ready changes.
    if (statusDiffers(before, status)) this.saveStatus();
    if (
      before?.phase !== status.phase ||
      before?.conditions?.find((c) => c.type === 'Ready')?.reason !==
        status.conditions?.find((c) => c.type === 'Ready')?.reason
    )
      this.emit({ type: 'phase', key, channel, status });
  }

  /**
   * Writes status.json atomically (readers never see half a file); one write at a time, and at
   * most one waiting: a write not yet started will carry every change made before it starts.
   */
  private saveStatus(): void {
    if (this.statusWriteWaiting) return;
    this.statusWriteWaiting = true;
    this.writingStatus = this.writingStatus
      .then(async () => {
        this.statusWriteWaiting = false; // what changes from here on needs the next write
        const tmp = `${this.statusFile}.tmp`;
        await writeFile(tmp, `${JSON.stringify(this.view(), null, 2)}\n`, { mode: 0o600 });
        await rename(tmp, this.statusFile);
      })
      .catch(() => undefined);
  }
}

/**
 * The worker process as the pod the status function understands: running, waiting for a
 * restart (CrashLoopBackOff from the third failure in a row, as the kubelet says), or none.
 */
function asPod(state: WorkerProcessState | undefined): V1Pod | undefined {
  if (!state) return undefined;
  if (state.current)
    return {
      metadata: { name: state.name, uid: state.current.uid },
      status: { phase: 'Running', containerStatuses: [runningContainer()] },
    };
  if (state.restartAt !== undefined && state.failures >= 3) {
    const exit = state.lastExit;
    return {
      metadata: { name: state.name, uid: 'restarting' },
      status: {
        phase: 'Running',
        containerStatuses: [
          {
            ...runningContainer(),
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: `the worker keeps exiting; see ${state.name}'s log`,
              },
            },
            lastState: {
              terminated: {
                exitCode: exit?.code ?? 137,
                ...(exit?.signal ? { reason: exit.signal } : {}),
              },
            },
          },
        ],
      },
    };
  }
  return undefined;
}

function runningContainer() {
  return {
    name: 'worker',
    image: 'local',
    imageID: '',
    ready: true,
    restartCount: 0,
    state: { running: {} },
  };
}
