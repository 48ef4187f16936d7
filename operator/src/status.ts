/**
 * The channel's status as a pure function of what the operator sees: the channel, its
 * pod and the worker's last status event. Conditions keep their lastTransitionTime
 * while their status does not change, so an unchanged world writes nothing.
 */
import type { V1Pod } from '@kubernetes/client-node';
import {
  CONDITION_TYPES,
  type Condition,
  type Phase,
  type StatusEvent,
  type WhatsAppChannel,
  type WhatsAppChannelStatus,
} from '../../contract/index.ts';

export interface Observed {
  channel: WhatsAppChannel;
  pod: V1Pod | undefined;
  /** The latest status event of the channel's current pod, if any. */
  report: StatusEvent | undefined;
  now: string;
}

type Cond = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Why the pod is not running, when the kubelet or scheduler say so. */
export function podProblem(pod: V1Pod | undefined): { reason: string; message: string } | undefined {
  if (!pod) return undefined;
  for (const cs of pod.status?.containerStatuses ?? []) {
    const waiting = cs.state?.waiting;
    if (
      waiting?.reason === 'CrashLoopBackOff' ||
      waiting?.reason === 'ImagePullBackOff' ||
      waiting?.reason === 'ErrImagePull' ||
      waiting?.reason === 'CreateContainerConfigError'
    ) {
      return {
        reason: waiting.reason,
        message: waiting.message ?? `the worker container is in ${waiting.reason}`,
      };
    }
  }
  const unschedulable = pod.status?.conditions?.find(
    (c) => c.type === 'PodScheduled' && c.status === 'False',
  );
  if (unschedulable)
    return {
      reason: unschedulable.reason ?? 'Unschedulable',
      message: unschedulable.message ?? 'the worker pod cannot be scheduled',
    };
  return undefined;
}

function podRunning(pod: V1Pod | undefined): boolean {
  return (
    pod?.status?.phase === 'Running' &&
    (pod.status.containerStatuses ?? []).every((c) => c.ready || c.state?.running)
  );
}

export function desiredStatus(o: Observed): WhatsAppChannelStatus {
  const { channel, pod, report } = o;
  const generation = channel.metadata.generation ?? 0;
  const problem = podProblem(pod);
  const suspended = channel.spec.suspend === true;

  let phase: Phase;
  let message: string;
  if (suspended) {
    phase = 'Suspended';
    message = 'spec.suspend is true: the worker pod is removed, the link and state are kept';
  } else if (report) {
    phase = report.phase;
    message = report.message ?? report.reason ?? report.phase;
  } else {
    phase = 'Pending';
    message = problem?.message ?? (pod ? 'waiting for the worker to report' : 'creating the worker pod');
  }

  const connected = phase === 'Connected';
  const paired = Boolean(report?.account) || connected;
  const conditions: Cond[] = [
    suspended
      ? {
          type: CONDITION_TYPES.workerRunning,
          status: 'False',
          reason: 'Suspended',
          message: 'the channel is suspended',
        }
      : problem
        ? {
            type: CONDITION_TYPES.workerRunning,
            status: 'False',
            reason: problem.reason,
            message: problem.message,
          }
        : podRunning(pod) || report
          ? {
              type: CONDITION_TYPES.workerRunning,
              status: 'True',
              reason: 'PodRunning',
              message: `pod ${pod?.metadata?.name ?? ''} is running`,
            }
          : {
              type: CONDITION_TYPES.workerRunning,
              status: 'False',
              reason: pod ? 'PodPending' : 'PodMissing',
              message: pod ? 'the worker pod has not started yet' : 'the worker pod is being created',
            },
    paired
      ? {
          type: CONDITION_TYPES.paired,
          status: 'True',
          reason: 'Linked',
          message: `linked to ${report?.account ?? 'a WhatsApp account'}`,
        }
      : {
          type: CONDITION_TYPES.paired,
          status: phase === 'QRRequired' || phase === 'Pairing' ? 'False' : 'Unknown',
          reason: phase === 'QRRequired' || phase === 'Pairing' ? 'AwaitingPairing' : 'NotYetKnown',
          message:
            phase === 'QRRequired'
              ? 'scan the QR code published on the qr subject'
              : 'no linked account reported yet',
        },
    connected
      ? {
          type: CONDITION_TYPES.ready,
          status: 'True',
          reason: 'Connected',
          message: 'the WhatsApp session is connected',
        }
      : {
          type: CONDITION_TYPES.ready,
          status: 'False',
          reason: suspended ? 'Suspended' : (report?.reason ?? problem?.reason ?? phase),
          message,
        },
    // kstatus: Stalled = needs a human; Reconciling = still converging.
    phase === 'Error' || problem
      ? {
          type: CONDITION_TYPES.stalled,
          status: 'True',
          reason: report?.reason ?? problem?.reason ?? 'Error',
          message,
        }
      : { type: CONDITION_TYPES.stalled, status: 'False', reason: 'Progressing', message: 'no error' },
    connected || suspended || phase === 'Error' || phase === 'QRRequired'
      ? { type: CONDITION_TYPES.reconciling, status: 'False', reason: 'Settled', message: `phase ${phase}` }
      : { type: CONDITION_TYPES.reconciling, status: 'True', reason: phase, message },
  ];

  const previous = new Map((channel.status?.conditions ?? []).map((c) => [c.type, c]));
  const status: WhatsAppChannelStatus = {
    phase,
    message,
    observedGeneration: generation,
    conditions: conditions.map((c) => {
      const before = previous.get(c.type);
      const unchanged = before && before.status === c.status;
      return {
        ...c,
        observedGeneration: generation,
        lastTransitionTime: unchanged ? before.lastTransitionTime : o.now,
      };
    }),
  };
  if (pod?.metadata?.name && !suspended) status.workerPod = pod.metadata.name;
  const account = report?.account ?? channel.status?.account;
  if (account) status.account = account;
  const lastConnected = report?.lastConnectedAt ?? channel.status?.lastConnectedTime;
  if (lastConnected) status.lastConnectedTime = lastConnected;
  status.reconnectCount = report?.reconnects ?? channel.status?.reconnectCount ?? 0;
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
  const sorted = Object.fromEntries(Object.entries(s).sort(([a], [b]) => a.localeCompare(b)));
  sorted.conditions = [...(s.conditions ?? [])]
    .sort((a, b) => a.type.localeCompare(b.type))
    .map((c) => Object.fromEntries(Object.entries(c).sort(([a], [b]) => a.localeCompare(b))));
  return sorted;
}
