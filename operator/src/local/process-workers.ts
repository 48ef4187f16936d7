/**
 * Local mode's `WorkerRuntime` (controller/ports.ts): a channel's worker is a child process
 * (process-runtime.ts) with a pod's environment (docs/worker-env.md), except that its state
 * lives in `<state dir>/objects` (WA_STATE_DIR) and its data keys are wrapped by
 * `<state dir>/local.key` (WA_KEY_FILE) instead of S3 and KMS.
 *
 * The process runtime restarts a worker that exits by itself with a backoff, as the kubelet
 * does; from the third failure in a row it is `failing` with CrashLoopBackOff, as a pod shows.
 */
import { createHash } from 'node:crypto';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import type { StartRefused, WorkerObservation, WorkerRuntime } from '../controller/ports.ts';
import { channelWorkerEnv, workerPodName } from '../pod.ts';
import { channelKey } from './manifest-folder.ts';
import type { ProcessRuntime, WorkerProcessState } from './process-runtime.ts';

export interface ProcessWorkersConfig {
  natsUrl: string;
  natsCredsFile?: string | undefined;
  /** WA_STATE_DIR and WA_KEY_FILE of every worker. */
  objectsDir: string;
  keyFile: string;
  /** Extra plain worker environment (the simulator's WA_WS_URL and WA_TRUST_ROOT, for instance). */
  workerExtraEnv?: Record<string, string> | undefined;
  workerLogLevel?: string | undefined;
  /** The fleet's WhatsApp Web version; a channel's spec.worker.waWebVersion wins (channelWorkerEnv). */
  waWebVersion?: string | undefined;
  logFile: (channel: WhatsAppChannel) => string;
}

/** Failures in a row from which a restarting worker shows CrashLoopBackOff (as the kubelet's). */
const CRASH_LOOP_FAILURES = 3;

export class ProcessWorkers implements WorkerRuntime {
  private readonly runtime: ProcessRuntime;
  private readonly config: ProcessWorkersConfig;

  constructor(runtime: ProcessRuntime, config: ProcessWorkersConfig) {
    this.runtime = runtime;
    this.config = config;
  }

  observe(channel: WhatsAppChannel): WorkerObservation | undefined {
    const state = this.runtime.state(channelKey(channel));
    return state && observeProcess(state);
  }

  desiredSpecHash(channel: WhatsAppChannel): string {
    return hashOf(localWorkerEnv(channel, this.config));
  }

  async start(channel: WhatsAppChannel): Promise<StartRefused | undefined> {
    const env = localWorkerEnv(channel, this.config);
    await this.runtime.ensure({
      key: channelKey(channel),
      name: workerPodName(channel),
      env,
      // A changed environment replaces the worker, as a changed pod spec does.
      specHash: hashOf(env),
      ownerUid: channel.metadata.uid!,
      logFile: this.config.logFile(channel),
    });
    return undefined;
  }

  /** SIGTERM now; the worker shows `stopping` until it has exited (the runtime then reports the change). */
  async stop(channel: WhatsAppChannel): Promise<void> {
    void this.runtime.remove(channelKey(channel));
  }

  staleFor(): number {
    return 0; // the runtime's state is this process's own memory: never stale
  }
}

/** The environment of a pod (docs/worker-env.md), with the local drivers instead of S3 and KMS. */
export function localWorkerEnv(
  channel: WhatsAppChannel,
  config: Omit<ProcessWorkersConfig, 'logFile'>,
): Record<string, string> {
  const s = channel.spec;
  const channelEnv = channelWorkerEnv(s, {
    natsUrl: config.natsUrl,
    logLevel: config.workerLogLevel ?? 'info',
    waWebVersion: config.waWebVersion,
  });
  return {
    PATH: process.env.PATH ?? '',
    ...channelEnv,
    ...(config.natsCredsFile ? { NATS_CREDS_FILE: config.natsCredsFile } : {}),
    WA_STATE_DIR: config.objectsDir,
    WA_S3_PREFIX: s.storage?.prefix ?? 'wa',
    WA_KEY_FILE: config.keyFile,
    ...config.workerExtraEnv,
    // As in a pod: the channel's own media limit beats a fleet-wide one in --worker-env.
    ...(channelEnv.WA_MEDIA_MAX_BYTES === undefined
      ? {}
      : { WA_MEDIA_MAX_BYTES: channelEnv.WA_MEDIA_MAX_BYTES }),
  };
}

const hashOf = (env: Record<string, string>) =>
  createHash('sha256').update(JSON.stringify(env)).digest('hex');

/** A worker process as the reconciler's neutral observation. */
export function observeProcess(state: WorkerProcessState): WorkerObservation {
  const exit = state.lastExit;
  const base = {
    name: state.name,
    label: `worker process ${state.name}`,
    identity: state.current?.holder,
    ownerUid: state.ownerUid,
    specHash: state.specHash,
    restarts: state.restarts,
    lastExit: exit ? (exit.signal ?? `code ${exit.code}`) : undefined,
  };
  if (state.stopping) return { ...base, activity: 'stopping' };
  if (state.current) return { ...base, activity: 'running' };
  if (state.restartAt !== undefined && state.failures >= CRASH_LOOP_FAILURES)
    return {
      ...base,
      activity: 'failing',
      reason: 'CrashLoopBackOff',
      message: `the worker keeps exiting; see ${state.name}'s log (last exit: ${base.lastExit ?? 'unknown'})`,
    };
  return { ...base, activity: 'starting', ...(exit ? { reason: 'BackOff' } : {}) };
}
