/**
 * The worker pod of a channel: a pure function of the channel and the operator's
 * configuration. Its hash goes into an annotation, so a changed spec is seen as a
 * changed pod (and the old pod is replaced, never run beside the new one).
 */
import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { API_VERSION, KIND, LABELS, type WhatsAppChannel } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';

export const SPEC_HASH_ANNOTATION = 'whatsapp.clinic.dev/spec-hash';

export function workerPodName(channel: WhatsAppChannel): string {
  // Names are per namespace; the channel's own name is unique there. Bounded to 63.
  return `wa-${channel.metadata.name}`.slice(0, 63).replace(/-+$/, '');
}

export function buildWorkerPod(channel: WhatsAppChannel, config: OperatorConfig): V1Pod {
  const spec = channel.spec;
  const storage = spec.storage ?? {};
  const worker = spec.worker ?? {};
  const env: Array<{ name: string; value?: string; valueFrom?: object }> = [
    { name: 'WA_CLINIC_ID', value: spec.clinicId },
    { name: 'WA_CHANNEL_ID', value: spec.channelId },
    { name: 'WA_PAIRING', value: spec.pairing ?? 'qr' },
    ...(spec.phoneNumber ? [{ name: 'WA_PHONE_NUMBER', value: spec.phoneNumber }] : []),
    { name: 'WA_LOG_LEVEL', value: worker.logLevel ?? config.worker.logLevel },
    { name: 'NATS_URL', value: config.natsUrl },
    { name: 'WA_S3_BUCKET', value: storage.bucket ?? config.s3.bucket },
    { name: 'WA_S3_PREFIX', value: storage.prefix ?? config.s3.prefix },
    { name: 'WA_S3_REGION', value: config.s3.region },
    ...(config.s3.endpoint ? [{ name: 'WA_S3_ENDPOINT', value: config.s3.endpoint }] : []),
    { name: 'WA_KMS_KEY_ID', value: storage.kmsKeyId ?? config.kms.keyId },
    ...(config.kms.endpoint ? [{ name: 'WA_KMS_ENDPOINT', value: config.kms.endpoint }] : []),
    { name: 'WA_LEASE_HOLDER', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'WA_HTTP_PORT', value: '8080' },
    ...Object.entries(config.workerExtraEnv).map(([name, value]) => ({ name, value })),
  ];
  const volumes = config.workerNatsSecret
    ? [{ name: 'nats-creds', secret: { secretName: config.workerNatsSecret, defaultMode: 0o400 } }]
    : [];
  if (config.workerNatsSecret) env.push({ name: 'NATS_CREDS_FILE', value: '/var/run/nats/creds' });

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: workerPodName(channel),
      namespace: channel.metadata.namespace,
      labels: {
        [LABELS.clinic]: spec.clinicId,
        [LABELS.channel]: spec.channelId,
        [LABELS.managedBy]: 'whatsapp-operator',
        [LABELS.component]: 'worker',
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: KIND,
          name: channel.metadata.name,
          uid: channel.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      serviceAccountName: config.worker.serviceAccount,
      // The worker never talks to the Kubernetes API.
      automountServiceAccountToken: false,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'worker',
          image: worker.image ?? config.worker.image,
          env: env as never,
          ports: [{ name: 'http', containerPort: 8080 }],
          resources: {
            requests: {
              ...config.worker.resources.requests,
              ...(worker.resources?.requests as Record<string, string>),
            },
            limits: {
              ...config.worker.resources.limits,
              ...(worker.resources?.limits as Record<string, string>),
            },
          },
          livenessProbe: {
            httpGet: { path: '/livez', port: 'http' as never },
            periodSeconds: 10,
            failureThreshold: 6,
          },
          readinessProbe: { httpGet: { path: '/readyz', port: 'http' as never }, periodSeconds: 5 },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          ...(config.workerNatsSecret
            ? { volumeMounts: [{ name: 'nats-creds', mountPath: '/var/run/nats', readOnly: true }] }
            : {}),
        },
      ],
      volumes,
    },
  };
  const hash = createHash('sha256').update(JSON.stringify(pod.spec)).digest('hex').slice(0, 16);
  pod.metadata!.annotations = { [SPEC_HASH_ANNOTATION]: hash };
  return pod;
}
