/**
 * The reconciler's two ports, so that one reconciler runs a channel in a cluster and in local
 * mode (docs/operator.md, "One reconciler, two runtimes"):
 *
 * - `ChannelStore`: where channels come from and where their finalizer, progress
 *   annotations, status and Events go (the API server, or the manifests folder + status.json).
 * - `WorkerRuntime`: where a channel's worker runs (a pod, or a child process), seen through a
 *   neutral `WorkerObservation` so that the status is computed the same way for both.
 *
 * Both may be "stale" right after a write (a watch cache that has not shown it yet):
 * `staleFor` says how long to wait before trusting what they show (0 = trust it now).
 */
import type { WhatsAppChannel, WhatsAppChannelStatus } from '../../../contract/index.ts';

/**
 * What a channel's worker is doing, whatever runs it.
 * - `starting`: created, not running yet (scheduling, pulling, ContainerCreating, a restart due);
 * - `running`: the worker process runs;
 * - `stopping`: asked to stop (pod terminating, SIGTERM sent), not gone yet;
 * - `failing`: it will not run without a person (crash loop, bad image, cannot be scheduled);
 * - `ended`: it ended for good (evicted, failed) and must be replaced.
 */
export type WorkerActivity = 'starting' | 'running' | 'stopping' | 'failing' | 'ended';

export interface WorkerObservation {
  /** The pod's or process's name (`wa-<channel name>`): status.workerPod. */
  name: string;
  /** How messages name it: `pod wa-x`, `worker process wa-x`. */
  label: string;
  /** WA_LEASE_HOLDER of this incarnation, when it has one: its status reports carry it. */
  identity: string | undefined;
  /** The uid of the channel it was started for: another uid is a leftover of an earlier channel. */
  ownerUid: string | undefined;
  /** The hash of the spec it runs (a different desired hash means: replace it). */
  specHash: string | undefined;
  /** The channel's generation it was started for, when the runtime records it (pods do). */
  channelGeneration?: number | undefined;
  activity: WorkerActivity;
  /** Why it is not running (`ContainerCreating`, `CrashLoopBackOff`, `Evicted`…), if known. */
  reason?: string | undefined;
  /** A person's explanation, complete (with the last exit where it helps). */
  message?: string | undefined;
  /** Restarts of the current worker (the kubelet's restartCount, the process runtime's restarts). */
  restarts: number;
  /** How the last incarnation ended (`OOMKilled`, `code 1`, `SIGKILL`), if one did. */
  lastExit?: string | undefined;
}

/** A start the runtime refused for a reason a person must fix (quota, PodSecurity…). */
export interface StartRefused {
  refused: string;
}

export interface WorkerRuntime {
  observe(channel: WhatsAppChannel): WorkerObservation | undefined;
  /** The hash of the spec a worker started now would run. */
  desiredSpecHash(channel: WhatsAppChannel): string;
  /** Starts the channel's worker; a refusal that needs a person is returned, anything else thrown. */
  start(channel: WhatsAppChannel): Promise<StartRefused | undefined>;
  /** Asks that worker to stop (it passes through `stopping`). */
  stop(channel: WhatsAppChannel, worker: WorkerObservation): Promise<void>;
  staleFor(channel: WhatsAppChannel): number;
}

export interface ChannelStore {
  get(key: string): WhatsAppChannel | undefined;
  /** Every channel with this clinicId/channelId, wherever it is (the duplicate rule: identity.ts). */
  claimsOf(clinicId: string, channelId: string): WhatsAppChannel[];
  staleFor(key: string, channel: WhatsAppChannel | undefined): number;
  /** The channel is gone: forget what was kept for it. */
  forget(key: string): void;
  /**
   * Returns the channel as the write left it, when the store has it: the write's own result, fresh
   * by definition, so the reconcile can go on with it instead of waiting for the store to show it.
   */
  setFinalizers(channel: WhatsAppChannel, finalizers: string[]): Promise<WhatsAppChannel | undefined>;
  /**
   * Sets (string) or removes (null) annotations: the reconciler's progress (progress.ts); and
   * labels, in the same write: a channel's place in a rollout (rollout-marks.ts, cluster mode).
   */
  annotate(
    channel: WhatsAppChannel,
    annotations: Record<string, string | null>,
    labels?: Record<string, string | null>,
  ): Promise<void>;
  applyStatus(channel: WhatsAppChannel, status: WhatsAppChannelStatus): Promise<void>;
  /** Best effort: never fails a reconcile. */
  event(channel: WhatsAppChannel, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** What a reconcile (or a step of it) asks of the queue: come back after this long, or not at all. */
export type ReconcileResult = { requeueAfterMs?: number } | void;

/** The sooner of a result's requeue and another delay. */
export function earliest(result: ReconcileResult, ms: number | undefined): ReconcileResult {
  const delays = [result?.requeueAfterMs, ms].filter((x): x is number => x !== undefined);
  return delays.length ? { requeueAfterMs: Math.min(...delays) } : undefined;
}
