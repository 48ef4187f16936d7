/**
 * The channel's status as a pure function of what the operator sees: the channel, its
 * pod, the worker's last report and the operator's own last failure. Conditions keep
 * their lastTransitionTime while their status does not change, so an unchanged world
 * gives an identical status, and nothing is written.
 *
 * Conditions (docs/operator.md lists every reason and what to do):
 * - WorkerRunning: the pod exists and runs (from the pod, or a report of that pod).
 * - Paired: a WhatsApp account is linked (from the worker's reports).
 * - Ready: the session is connected and the pod runs. Ready's reason is the first cause.
 * - Reconciling / Stalled: for kstatus (Flux, `kubectl wait`, cli-utils). Reconciling is
 *   True while things are still moving by themselves; Stalled is True when they will not
 *   move without a person. Waiting for a QR scan is neither: the apply succeeded.
 */
import type { V1Pod } from '@kubernetes/client-node';
import {
  CONDITION_TYPES,
  type Condition,
  type Phase,
  type StatusEvent,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../../contract/index.ts';

export interface Observed {
  channel: WhatsAppChannel;
  /** The channel's current pod (possibly terminating), if any. */
  pod: V1Pod | undefined;
  /** The latest report of that pod's worker, if any. */
  report: StatusEvent | undefined;
  /** Why the last pod create failed (quota, PodSecurity…), if it did. */
  podCreateError?: string | undefined;
  /** While the channel is being deleted: which step runs, and why it fails, if it does. */
  deletion?: DeletionProgress | undefined;
  now: string;
}

export interface DeletionProgress {
  reason: string;
  message: string;
  failing: boolean;
}

type Cond = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Worker reasons (docs/worker.md) that mean the device is no longer linked. */
const UNLINKED_REASONS = new Set(['LoggedOut', 'LoggedOutByCommand', 'MultideviceMismatch']);
/** Container waiting reasons that will not clear by themselves. */
const STUCK_WAITING = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

interface WorkerState {
  running: boolean;
  reason: string;
  message: string;
  /** Needs a person (bad image, crash loop, quota, cannot be scheduled). */
  stuck: boolean;
}

/** Why the pod does not run, when the kubelet or the scheduler say so. */
export function podProblem(pod: V1Pod | undefined): { reason: string; message: string } | undefined {
  if (!pod) return undefined;
  for (const cs of pod.status?.containerStatuses ?? []) {
    const waiting = cs.state?.waiting;
    if (waiting?.reason && STUCK_WAITING.has(waiting.reason)) {
      const last = cs.lastState?.terminated;
      const lastExit = last ? ` (last exit: ${last.reason ?? `code ${last.exitCode}`})` : '';
      return {
        reason: waiting.reason,
        message: `${waiting.message ?? `the worker container is in ${waiting.reason}`}${lastExit}`,
      };
    }
  }
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === 'PodScheduled' && c.status === 'False',
  );
  if (unschedulable?.reason === 'Unschedulable')
    return {
      reason: 'Unschedulable',
      message: unschedulable.message ?? 'the worker pod cannot be scheduled',
    };
  return undefined;
}

/** The pod ended for good (evicted, or failed): it must be replaced. */
export function podEnded(pod: V1Pod | undefined): boolean {
  return pod?.status?.phase === 'Failed' || pod?.status?.phase === 'Succeeded';
}

function workerState(o: Observed): WorkerState {
  const { channel, pod, report } = o;
  const no = (reason: string, message: string, stuck = false) => ({ running: false, reason, message, stuck });
  if (channel.spec.suspend) return no('Suspended', 'spec.suspend is true: the worker pod is removed');
  if (o.podCreateError)
    return no('PodCreateFailed', `the worker pod cannot be created: ${o.podCreateError}`, true);
  if (!pod) return no('PodMissing', 'the worker pod is being created');
  const name = pod.metadata?.name;
  if (pod.metadata?.deletionTimestamp) return no('PodTerminating', `pod ${name} is stopping`);
  const problem = podProblem(pod);
  if (problem) return no(problem.reason, problem.message, true);
  if (podEnded(pod))
    return no(
      'PodFailed',
      `pod ${name} ended (${pod.status?.reason ?? pod.status?.phase}); it is being replaced`,
    );
  const containers = pod.status?.containerStatuses ?? [];
  const runs =
    pod.status?.phase === 'Running' && containers.length > 0 && containers.every((c) => c.state?.running);
  if (runs || report)
    return { running: true, reason: 'PodRunning', message: `pod ${name} is running`, stuck: false };
  const waiting = containers.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
  return no(waiting ?? 'PodPending', `pod ${name} has not started yet${waiting ? ` (${waiting})` : ''}`);
}

function phaseOf(o: Observed, worker: WorkerState): Phase {
  if (o.channel.spec.suspend) return 'Suspended';
  if (worker.stuck) return 'Error';
  if (worker.running && o.report) return o.report.phase;
  return 'Pending';
}

function pairedCondition(o: Observed, phase: Phase): Cond {
  const { report, channel } = o;
  const type = CONDITION_TYPES.paired;
  const account = report?.account ?? channel.status?.account;
  if (report?.reason && UNLINKED_REASONS.has(report.reason))
    return {
      type,
      status: 'False',
      reason: report.reason,
      message: 'the device was logged out; it must be paired again',
    };
  if (phase === 'QRRequired')
    return {
      type,
      status: 'False',
      reason: 'AwaitingQRScan',
      message: 'scan the QR code published on the qr subject',
    };
  if (phase === 'Pairing')
    return {
      type,
      status: 'False',
      reason: 'AwaitingPairingCode',
      message: 'enter the pairing code in WhatsApp',
    };
  if (phase === 'Connected' || account)
    return {
      type,
      status: 'True',
      reason: 'Linked',
      message: `linked to ${account ?? 'a WhatsApp account'}`,
    };
  return {
    type,
    status: 'Unknown',
    reason: 'NotYetKnown',
    message: 'the worker has not reported a linked account',
  };
}

function readyCondition(o: Observed, phase: Phase, worker: WorkerState, message: string): Cond {
  const type = CONDITION_TYPES.ready;
  if (o.deletion) return { type, status: 'False', reason: o.deletion.reason, message: o.deletion.message };
  if (phase === 'Connected' && worker.running) {
    const degraded = o.report?.degraded ? ' (degraded: a dependency is failing; see the worker logs)' : '';
    return {
      type,
      status: 'True',
      reason: 'Connected',
      message: `the WhatsApp session is connected${degraded}`,
    };
  }
  if (!worker.running) return { type, status: 'False', reason: worker.reason, message: worker.message };
  return { type, status: 'False', reason: o.report?.reason ?? phase, message };
}

export function desiredStatus(o: Observed): WhatsAppChannelStatus {
  const { channel, pod, report } = o;
  const generation = channel.metadata.generation ?? 0;
  const worker = workerState(o);
  const phase = phaseOf(o, worker);
  const message =
    phase === 'Suspended' || !worker.running
      ? worker.message
      : (report?.message ?? report?.reason ?? `the worker reports ${phase}`);
  const waitingForPerson = phase === 'QRRequired' || phase === 'Pairing';
  const stalled = o.deletion?.failing
    ? { reason: o.deletion.reason, message: o.deletion.message }
    : worker.stuck
      ? { reason: worker.reason, message: worker.message }
      : phase === 'Error'
        ? { reason: report?.reason ?? 'Error', message }
        : undefined;
  const settled = phase === 'Connected' || phase === 'Suspended' || waitingForPerson || stalled !== undefined;

  const conditions: Cond[] = [
    readyCondition(o, phase, worker, message),
    pairedCondition(o, phase),
    {
      type: CONDITION_TYPES.workerRunning,
      status: worker.running ? 'True' : 'False',
      reason: worker.reason,
      message: worker.message,
    },
    o.deletion
      ? { type: CONDITION_TYPES.reconciling, status: 'True', reason: 'Deleting', message: o.deletion.message }
      : settled
        ? { type: CONDITION_TYPES.reconciling, status: 'False', reason: 'Settled', message: `phase ${phase}` }
        : {
            type: CONDITION_TYPES.reconciling,
            status: 'True',
            reason: phase === 'Pending' ? worker.reason : phase,
            message,
          },
    stalled
      ? { type: CONDITION_TYPES.stalled, status: 'True', ...stalled }
      : {
          type: CONDITION_TYPES.stalled,
          status: 'False',
          reason: 'NotStalled',
          message: 'no error that needs a person',
        },
  ];

  const previous = new Map((channel.status?.conditions ?? []).map((c) => [c.type, c]));
  const status: WhatsAppChannelStatus = {
    phase,
    message: o.deletion?.message ?? message,
    observedGeneration: generation,
    conditions: conditions.map((c) => {
      const before = previous.get(c.type);
      return {
        ...c,
        observedGeneration: generation,
        lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : o.now,
      };
    }),
  };
  if (pod?.metadata?.name && !channel.spec.suspend) status.workerPod = pod.metadata.name;
  const account = report?.account ?? channel.status?.account;
  if (account) status.account = account;
  const lastConnected = report?.lastConnectedAt ?? channel.status?.lastConnectedTime;
  if (lastConnected) status.lastConnectedTime = lastConnected;
  status.reconnectCount = report?.reconnects ?? channel.status?.reconnectCount ?? 0;
  // Only the current pod's worker knows which WhatsApp Web version it announces: a replaced pod's
  // version would be stale, so without a live report the field is left out.
  if (report?.waWebVersion) status.waWebVersion = report.waWebVersion;
  return status;
}

/** Whether writing `next` would change anything (times of unchanged conditions are kept, so deep equality works). */
export function statusDiffers(
  current: WhatsAppChannelStatus | undefined,
  next: WhatsAppChannelStatus,
): boolean {
  return JSON.stringify(normalise(current)) !== JSON.stringify(normalise(next));
}

function normalise(s: WhatsAppChannelStatus | undefined): unknown {
  if (!s) return undefined;
  const sorted: Record<string, unknown> = Object.fromEntries(
    Object.entries(s).sort(([a], [b]) => a.localeCompare(b)),
  );
  sorted.conditions = [...(s.conditions ?? [])]
    .sort((a, b) => a.type.localeCompare(b.type))
    .map((c) => Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b))));
  return sorted;
}
