/**
 * A worker pod as the reconciler's neutral `WorkerObservation` (ports.ts): what the kubelet
 * and the scheduler say about it, in the terms both runtimes share.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { CHANNEL_GENERATION_ANNOTATION, SPEC_HASH_ANNOTATION, workerIdentity } from '../pod.ts';
import type { WorkerObservation } from './ports.ts';

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

export function observePod(pod: V1Pod): WorkerObservation {
  const name = pod.metadata?.name ?? '';
  const containers = pod.status?.containerStatuses ?? [];
  const last = containers[0]?.lastState?.terminated;
  const base = {
    name,
    label: `pod ${name}`,
    identity: workerIdentity(pod),
    ownerUid: pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid,
    specHash: pod.metadata?.annotations?.[SPEC_HASH_ANNOTATION],
    channelGeneration: generation(pod.metadata?.annotations?.[CHANNEL_GENERATION_ANNOTATION]),
    restarts: containers.reduce((n, c) => n + (c.restartCount ?? 0), 0),
    lastExit: last ? (last.reason ?? `code ${last.exitCode}`) : undefined,
  };
  if (pod.metadata?.deletionTimestamp) return { ...base, activity: 'stopping' };
  // Before its containers' states: an ended pod never runs again, whatever they last said
  // (an evicted pod keeps the CrashLoopBackOff of before), and it must be replaced.
  if (podEnded(pod)) return { ...base, activity: 'ended', reason: pod.status?.reason ?? pod.status?.phase };
  const problem = podProblem(pod);
  if (problem) return { ...base, activity: 'failing', ...problem };
  const runs =
    pod.status?.phase === 'Running' && containers.length > 0 && containers.every((c) => c.state?.running);
  if (runs) return { ...base, activity: 'running' };
  const waiting = containers.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
  return { ...base, activity: 'starting', reason: waiting };
}

/**
 * The pod as the pod cache keeps it (the cache's `transform`): only what `observePod` and the
 * runtime read (names, uid, deletion, the operator's annotations, the controlling owner, and
 * the status's phase, reason, scheduling condition and container states). The spec, most of a
 * pod's size, is dropped: at 10,000 pods that is most of the operator's heap (issue 18).
 */
export function slimPod(pod: V1Pod): V1Pod {
  const meta = pod.metadata ?? {};
  const owner = meta.ownerReferences?.find((o) => o.controller);
  const kept = (annotations: Record<string, string> | undefined) => {
    const out: Record<string, string> = {};
    for (const key of [SPEC_HASH_ANNOTATION, CHANNEL_GENERATION_ANNOTATION])
      if (annotations?.[key] !== undefined) out[key] = annotations[key];
    return out;
  };
  const status = pod.status;
  const scheduled = status?.conditions?.find((c) => c.type === 'PodScheduled');
  return {
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
      ...(meta.deletionTimestamp ? { deletionTimestamp: meta.deletionTimestamp } : {}),
      annotations: kept(meta.annotations),
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    ...(status
      ? {
          status: {
            phase: status.phase,
            reason: status.reason,
            ...(scheduled ? { conditions: [scheduled] } : {}),
            containerStatuses: status.containerStatuses?.map((c) => ({
              name: c.name,
              image: c.image,
              imageID: c.imageID,
              ready: c.ready,
              restartCount: c.restartCount,
              state: c.state,
              lastState: c.lastState,
            })),
          },
        }
      : {}),
  };
}

function generation(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}
