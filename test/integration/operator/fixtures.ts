import type { Kubectl } from '../../harness/kubectl.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import {
  API_VERSION,
  CRD_NAME,
  KIND,
  LABELS,
  channelSubjects,
  validatePayload,
  type Phase,
  type StatusEvent,
} from '../../../contract/index.ts';
import { parseOperatorConfig, type OperatorConfig } from '../../../operator/src/config.ts';
import { repoRoot } from '../../harness/paths.ts';

/** The CRD installed and a namespace ready for worker pods (their ServiceAccount exists). */
export async function prepareNamespace(kubectl: Kubectl, ns: string, labels: string[] = []): Promise<void> {
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  await kubectl('create', 'namespace', ns);
  if (labels.length) await kubectl('label', 'namespace', ns, ...labels);
  await kubectl('create', 'serviceaccount', 'whatsapp-worker', '-n', ns);
}

/** Applies a WhatsAppChannel named `name` (its channelId too) with kubectl, as a user would. */
export async function applyChannel(
  kubectl: Kubectl,
  workDir: string,
  ns: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const file = join(workDir, `${ns}-${name}-${Date.now()}.json`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace: ns },
      spec: { channelId: name, ...spec },
    }),
  );
  await kubectl('apply', '-f', file);
}

/**
 * Operator configuration for tests: the required settings plus `extra`. The clinic rule
 * (WA_CLINIC_NAMESPACE_CHECK) is off unless `extra` turns it on: most tests run channels of
 * several clinics in one unlabelled namespace; identity.test.ts runs with it on.
 */
export function testConfig(extra: Record<string, string>): OperatorConfig {
  const parsed = parseOperatorConfig({
    WA_WORKER_IMAGE: 'registry.example/whatsapp-worker:test',
    WA_S3_BUCKET: 'wa-state',
    WA_KMS_KEY_ID: 'alias/wa',
    WA_CLINIC_NAMESPACE_CHECK: 'false',
    ...extra,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return parsed.config;
}

/**
 * Publishes a status event as the worker of `pod` would (worker = `<pod>_<uid>`, the
 * WA_LEASE_HOLDER the kubelet gives it), valid against the contract's status schema.
 */
export function publishStatus(
  nc: NatsConnection,
  pod: V1Pod,
  phase: Phase,
  seq: number,
  extra: Partial<StatusEvent> = {},
): void {
  const clinicId = pod.metadata!.labels![LABELS.clinic]!;
  const channelId = pod.metadata!.labels![LABELS.channel]!;
  const event: StatusEvent = {
    v: 1,
    clinicId,
    channelId,
    worker: `${pod.metadata!.name}_${pod.metadata!.uid}`,
    phase,
    reconnects: 0,
    degraded: false,
    at: new Date().toISOString(),
    seq,
    ...extra,
  };
  const checked = validatePayload('status', event);
  if (!checked.ok) throw new Error(`invalid status event: ${checked.errors.join('; ')}`);
  nc.publish(channelSubjects(clinicId, channelId).status, JSON.stringify(event));
}

/** Plays the kubelet: writes the pod's status through the status subresource. */
export async function setPodStatus(kubectl: Kubectl, pod: V1Pod, status: V1Pod['status']): Promise<void> {
  await kubectl(
    'patch',
    'pod',
    pod.metadata!.name!,
    '-n',
    pod.metadata!.namespace!,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  );
}

/** A running worker container, as the kubelet reports it. */
export const RUNNING: V1Pod['status'] = {
  phase: 'Running',
  containerStatuses: [
    {
      name: 'worker',
      image: 'registry.example/whatsapp-worker:test',
      imageID: '',
      ready: true,
      restartCount: 0,
      state: { running: { startedAt: new Date() } },
    },
  ],
};
