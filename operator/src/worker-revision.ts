/**
 * The worker revision: what the operator's settings put into every worker pod, as one short
 * hash. It is the spec hash (pod.ts: image, environment, resources, mounts, probes… everything
 * the pod spec carries) of the pod these settings give a fixed reference channel, so any
 * setting that reaches the pods changes it, and nothing else does. A rollout is the move of
 * the channels to a new revision (controller/rollout-gate.ts): its marks carry the revision,
 * so the failures of an earlier rollout (before a rollback) never hold up the next one.
 *
 * Settings that reach only some clinics' pods (a clinic's own KMS key or stream retention) do
 * not change it: those pods are replaced under the current revision's rollout, gated alike.
 */
import { API_VERSION, KIND, type WhatsAppChannel } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION } from './pod.ts';

const REFERENCE: WhatsAppChannel = {
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name: 'reference', namespace: 'reference', uid: 'reference', generation: 1 },
  spec: { clinicId: 'reference', channelId: 'reference' },
} as WhatsAppChannel;

export function workerRevision(config: OperatorConfig): string {
  return buildWorkerPod(REFERENCE, config).metadata!.annotations![SPEC_HASH_ANNOTATION]!;
}
