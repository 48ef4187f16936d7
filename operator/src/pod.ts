/**
 * The worker pod of a channel: a pure function of the channel and the operator's
 * configuration. docs/worker-env.md is the contract for the environment it gets.
 *
 * The pod's name is fixed per channel (`wa-<channel name>`), so the API server itself
 * refuses a second pod for the same channel. Because the name repeats across
 * incarnations, the worker's identity (WA_LEASE_HOLDER) is name + uid: a replacement
 * pod never mistakes the old pod's S3 lease or status reports for its own.
 * A hash of the pod spec goes into an annotation, so a changed spec is seen as a
 * changed pod (and the old pod is replaced, never run beside the new one).
 */
import { clinicSendBudgetWorkerEnv } from './clinic-send-budget.ts';
import { clinicStreamWorkerEnv } from './clinic-stream-settings.ts';
import { mediaWorkerEnv } from './media-settings.ts';
import { workerResources } from './worker-resources.ts';
import { createHash } from 'node:crypto';
import type { V1EnvVar, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { API_VERSION, KIND, LABELS, type WhatsAppChannel } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';

export const SPEC_HASH_ANNOTATION = 'whatsapp.clinic.dev/spec-hash';
/**
 * The channel's `metadata.generation` the pod was built from: a pod whose spec hash differs
 * while the generation is the same was changed by the operator's settings (a rollout, gated:
 * controller/rollout-gate.ts), not by the channel's owner (replaced at once).
 */
export const CHANNEL_GENERATION_ANNOTATION = 'whatsapp.clinic.dev/channel-generation';
export const MANAGED_BY = 'whatsapp-operator';
/** Selects every worker pod this operator made. */
export const WORKER_POD_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;
export const WORKER_HTTP_PORT = 8080;
const NATS_CREDS_DIR = '/var/run/secrets/whatsapp/nats';

/**
 * `wa-<channel name>`: names are per namespace and the channel's own name is unique there.
 * Longer than 63 characters (the pod's hostname limit), it is cut and a hash of the whole
 * name is added, so two long names with the same beginning never share a pod.
 */
export function workerPodName(channel: WhatsAppChannel): string {
  return boundedName(`wa-${channel.metadata.name}`);
}

function boundedName(name: string): string {
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, 52).replace(/[-.]+$/, '')}-${hash}`;
}

/** The identity a worker pod reports itself as (WA_LEASE_HOLDER): `<pod name>_<pod uid>`. */
export function workerIdentity(pod: V1Pod | undefined): string | undefined {
  const { name, uid } = pod?.metadata ?? {};
  return name && uid ? `${name}_${uid}` : undefined;
}

/** `{clinicId}` in an operator setting becomes the channel's clinic (per-clinic Secrets). */
export function perClinic(template: string, clinicId: string): string {
  return template.replaceAll('{clinicId}', clinicId);
}

/** `{clinicId}` and `{channelId}` replaced: the per-channel worker credential's Secret. */
export function perChannel(template: string, clinicId: string, channelId: string): string {
  return perClinic(template, clinicId).replaceAll('{channelId}', channelId);
}

/**
 * What a worker learns from its channel's spec and the operator's NATS setting: the same in a pod
 * and in a local-mode process (operator/src/local), which add their own storage and identity.
 */
export function channelWorkerEnv(
  spec: WhatsAppChannel['spec'],
  defaults: { natsUrl: string; logLevel: string; waWebVersion?: string | undefined },
): Record<string, string> {
  // The channel's own WhatsApp Web version, else the fleet's; unset: Baileys' built-in one. Part
  // of the pod spec, so changing it replaces the pod like any other worker change.
  const waWebVersion = spec.worker?.waWebVersion ?? defaults.waWebVersion;
  return {
    WA_CLINIC_ID: spec.clinicId,
    WA_CHANNEL_ID: spec.channelId,
    WA_PAIRING: spec.pairing ?? 'qr',
    ...(spec.phoneNumber === undefined ? {} : { WA_PHONE_NUMBER: spec.phoneNumber }),
    WA_LOG_LEVEL: spec.worker?.logLevel ?? defaults.logLevel,
    NATS_URL: defaults.natsUrl,
    ...(waWebVersion === undefined ? {} : { WA_WEB_VERSION: waWebVersion }),
    // The send policy as written in the spec; the worker fills in its safe defaults.
    ...(spec.sendPolicy === undefined ? {} : { WA_SEND_POLICY: JSON.stringify(spec.sendPolicy) }),
    // Only when the spec sets it, so channels on the default keep their pod spec (and their pod).
    ...(spec.media?.maxBytes === undefined ? {} : { WA_MEDIA_MAX_BYTES: String(spec.media.maxBytes) }),
  };
}

function workerEnv(channel: WhatsAppChannel, config: OperatorConfig): V1EnvVar[] {
  const spec = channel.spec;
  const storage = spec.storage ?? {};
  const optional = (name: string, value: string | undefined): V1EnvVar[] =>
    value === undefined ? [] : [{ name, value }];
  const channelEnv = channelWorkerEnv(spec, {
    natsUrl: config.natsUrl,
    logLevel: config.worker.logLevel,
    waWebVersion: config.worker.waWebVersion,
  });
  return [
    ...Object.entries(channelEnv).map(([name, value]) => ({ name, value })),
    ...(config.worker.natsSecret
      ? [{ name: 'NATS_CREDS_FILE', value: `${NATS_CREDS_DIR}/${config.worker.natsSecret.key}` }]
      : []),
    // The clinic's shared send budget, when it is not the worker's default.
    ...Object.entries(clinicSendBudgetWorkerEnv(config.clinicSendBudgets, spec.clinicId)).map(
      ([name, value]) => ({ name, value }),
    ),
    // A worker creates its clinic's stream and send log only without issued credentials.
    ...(config.natsIssuer
      ? []
      : Object.entries(clinicStreamWorkerEnv(config.clinicStreams, spec.clinicId)).map(([name, value]) => ({
          name,
          value,
        }))),
    ...Object.entries(mediaWorkerEnv(config.media, spec.clinicId)).map(([name, value]) => ({ name, value })),
    { name: 'WA_S3_BUCKET', value: storage.bucket ?? config.s3.bucket },
    { name: 'WA_S3_PREFIX', value: storage.prefix ?? config.s3.prefix },
    { name: 'WA_S3_REGION', value: config.s3.region },
    ...optional('WA_S3_ENDPOINT', config.s3.endpoint),
    // The channel's own key, else its clinic's, else the platform's (docs/security.md).
    {
      name: 'WA_KMS_KEY_ID',
      value: storage.kmsKeyId ?? config.kms.clinicKeys[spec.clinicId] ?? config.kms.keyId,
    },
    ...optional('WA_KMS_REGION', config.kms.region),
    ...optional('WA_KMS_ENDPOINT', config.kms.endpoint),
    { name: 'WA_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'WA_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    // The kubelet expands $(VAR) from the variables above.
    { name: 'WA_LEASE_HOLDER', value: '$(WA_POD_NAME)_$(WA_POD_UID)' },
    { name: 'WA_HTTP_PORT', value: String(WORKER_HTTP_PORT) },
    // Tests and demos only; every channel's status says so (the TestEndpoint condition).
    ...optional('WA_WS_URL', config.worker.simulator?.url),
    ...optional('WA_TRUST_ROOT', config.worker.simulator?.trustRoot),
    ...('NODE_OPTIONS' in config.worker.extraEnv ? [] : heapFor(memoryLimit(channel, config))),
    // The channel's own setting beats the fleet's extra env (a fleet-wide WA_MEDIA_MAX_BYTES); the
    // other variables of the channel are ones extra env may not set at all (worker-env-rules.ts).
    ...Object.entries(config.worker.extraEnv)
      .filter(([name]) => !(name in channelEnv))
      .map(([name, value]) => ({ name, value })),
  ];
}

/** The worker container's memory limit: the channel's own, else the operator's default. */
function memoryLimit(channel: WhatsAppChannel, config: OperatorConfig): string | undefined {
  const own = channel.spec.worker?.resources?.limits?.memory;
  return own === undefined ? config.worker.resources.limits.memory : String(own);
}

const QUANTITY_UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
};

/**
 * V8 settings for a small, long-lived process: a young generation of 2 MiB semi-spaces instead of
 * V8's default of up to 16 MiB each, which a worker fills in a burst and then keeps resident
 * (measured: idle RSS −30 MiB, the same burst throughput; docs/worker.md, "Performance").
 * The worker image sets the same (worker/Dockerfile).
 */
export const WORKER_V8_FLAGS = '--max-semi-space-size=2';

/** The worker's NODE_OPTIONS for an old space of `mib` MiB. */
export function workerNodeOptions(mib: number): string {
  return `--max-old-space-size=${mib} ${WORKER_V8_FLAGS} --disable-warning=ExperimentalWarning`;
}

/**
 * V8's old space at 70 % of the memory limit (the rest is code, buffers and native memory), so a
 * channel whose limit is raised gets the heap to use it. Without a limit it knows, the image's
 * default stays.
 */
function heapFor(limit: string | undefined): V1EnvVar[] {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(limit ?? '');
  if (!m) return [];
  const mib = Math.floor((Number(m[1]) * QUANTITY_UNITS[m[2] ?? '']! * 0.7) / 2 ** 20);
  return [{ name: 'NODE_OPTIONS', value: workerNodeOptions(mib) }];
}

/** The worker's in-memory /tmp: room for one outgoing attachment of up to 100 MB and then some. */
export const WORKER_TMP_SIZE = '256Mi';

export function buildWorkerPod(channel: WhatsAppChannel, config: OperatorConfig): V1Pod {
  const spec = channel.spec;
  const worker = spec.worker ?? {};
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  const natsSecret = config.worker.natsSecret;
  if (natsSecret) {
    volumes.push({
      name: 'nats-creds',
      secret: {
        secretName: perChannel(natsSecret.name, spec.clinicId, spec.channelId),
        items: [{ key: natsSecret.key, path: natsSecret.key }],
        defaultMode: 0o440,
      },
    });
    mounts.push({ name: 'nats-creds', mountPath: NATS_CREDS_DIR, readOnly: true });
  }
  // Baileys writes an outgoing attachment's encrypted copy to the temporary folder while it sends
  // it; the root filesystem is read-only. In memory, so no attachment ever touches the node's
  // disk; it counts toward the memory limit (docs/worker.md, "Media").
  volumes.push({ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: WORKER_TMP_SIZE } });
  mounts.push({ name: 'tmp', mountPath: '/tmp' });
  const envFrom = config.worker.envSecret
    ? [{ secretRef: { name: perClinic(config.worker.envSecret, spec.clinicId) } }]
    : undefined;

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: workerPodName(channel),
      namespace: channel.metadata.namespace,
      labels: {
        [LABELS.clinic]: spec.clinicId,
        [LABELS.channel]: spec.channelId,
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.component]: 'worker',
        'app.kubernetes.io/name': 'whatsapp-worker',
        'app.kubernetes.io/instance': boundedName(channel.metadata.name),
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
      ...(config.worker.serviceAccount ? { serviceAccountName: config.worker.serviceAccount } : {}),
      // The worker never talks to the Kubernetes API: no token in the pod.
      automountServiceAccountToken: false,
      restartPolicy: 'Always',
      // The worker's own shutdown grace (WA_SHUTDOWN_GRACE_SECONDS, 25 s) fits inside.
      terminationGracePeriodSeconds: 30,
      enableServiceLinks: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        fsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'worker',
          image: worker.image ?? config.worker.image,
          imagePullPolicy: 'IfNotPresent',
          env: workerEnv(channel, config),
          ...(envFrom ? { envFrom } : {}),
          ports: [{ name: 'http', containerPort: WORKER_HTTP_PORT }],
          resources: workerResources(config.worker.resources, worker.resources),
          livenessProbe: {
            httpGet: { path: '/livez', port: 'http' },
            periodSeconds: 10,
            failureThreshold: 6,
          },
          readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          ...(mounts.length ? { volumeMounts: mounts } : {}),
        },
      ],
      ...(volumes.length ? { volumes } : {}),
    },
  };
  const hash = createHash('sha256').update(JSON.stringify(pod.spec)).digest('hex').slice(0, 16);
  pod.metadata!.annotations = {
    [SPEC_HASH_ANNOTATION]: hash,
    ...(channel.metadata.generation === undefined
      ? {}
      : { [CHANNEL_GENERATION_ANNOTATION]: String(channel.metadata.generation) }),
  };
  return pod;
}
