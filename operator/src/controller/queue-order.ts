/**
 * Which channels the work queue runs first (work-queue.ts, `addFirst`): those waiting for their
 * worker pod. Creating a pod is what a new (or evicted) channel waits for, while most other work
 * is status writes of channels whose worker exists; when many channels arrive at once their pods
 * go first, and the statuses follow (docs/operator.md, "Measured"). Any event of such a channel
 * goes first, whatever it brings: the reconcile decides what it does.
 */
import type { WhatsAppChannel } from '../../../contract/index.ts';

export function waitsForWorker(channel: WhatsAppChannel, hasWorkerPod: boolean): boolean {
  return !hasWorkerPod && !channel.metadata?.deletionTimestamp && !channel.spec?.suspend;
}
