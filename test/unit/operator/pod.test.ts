import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { parseOperatorConfig, type OperatorConfig } from '../../../operator/src/config.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION, workerIdentity } from '../../../operator/src/pod.ts';
import { repoRoot } from '../../harness/paths.ts';

const baseEnv = {
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'img:1',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
};
const configOf = (env: Record<string, string> = {}): OperatorConfig => {
  const r = parseOperatorConfig({ ...baseEnv, ...env });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.config;
};
const channel = (spec: Partial<WhatsAppChannel['spec']> = {}): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front-desk', namespace: 'clinic-a', uid: 'u-1' },
  spec: { clinicId: 'clinic-a', channelId: 'front-desk', ...spec },
});
const envOf = (c: WhatsAppChannel, config = configOf()) =>
  Object.fromEntries(
    buildWorkerPod(c, config).spec!.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom]),
  );

describe('worker pod', () => {
  test('its environment is exactly the table in docs/worker-env.md', () => {
    const doc = readFileSync(join(repoRoot, 'docs/worker-env.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
    const everything = configOf({
      WA_S3_ENDPOINT: 'http://minio:9000',
      WA_KMS_ENDPOINT: 'http://kms:8080',
      WA_KMS_REGION: 'eu-west-1',
      WA_WORKER_NATS_SECRET: 'wa-nats-{clinicId}',
      WA_WORKER_WA_WEB_VERSION: '2.3000.1023223821',
      WA_WORKER_SIMULATOR_URL: 'ws://sim:9000/ws/chat',
      WA_WORKER_SIMULATOR_TRUST_ROOT: '/etc/wa-sim/root.hex',
      WA_CLINIC_STREAM_RETENTION_DAYS: '30',
      WA_IDEMPOTENCY_WINDOW_HOURS: '48',
      WA_MEDIA_RETENTION_DAYS: '60',
      WA_CLINIC_SEND_BUDGET: '{"*":{"ratePerMinute":60,"burst":10}}',
    });
    const built = Object.keys(
      envOf(
        channel({
          phoneNumber: '+5511987654321',
          sendPolicy: { ratePerMinute: 6 },
          media: { maxBytes: 5_000_000 },
        }),
        everything,
      ),
    ).sort();
    expect(built).toEqual(documented);
    // The optional ones are absent when not configured.
    const minimal = Object.keys(envOf(channel()));
    for (const optional of [
      'WA_PHONE_NUMBER',
      'WA_S3_ENDPOINT',
      'WA_KMS_ENDPOINT',
      'NATS_CREDS_FILE',
      'WA_WEB_VERSION',
      'WA_WS_URL',
      'WA_TRUST_ROOT',
      'WA_CLINIC_STREAM_RETENTION_DAYS',
      'WA_IDEMPOTENCY_WINDOW_HOURS',
      'WA_MEDIA_RETENTION_DAYS',
      'WA_SEND_POLICY',
      'WA_CLINIC_SEND_BUDGET',
      'WA_MEDIA_MAX_BYTES',
    ]) {
      expect(minimal).not.toContain(optional);
    }
  });

  test("media retention reaches every worker: the clinic's own days, else the default, only when not 30", () => {
    const config = configOf({
      WA_MEDIA_RETENTION_DAYS: '60',
      WA_MEDIA_RETENTION: '{"clinic-a":90,"clinic-b":30}',
    });
    expect(envOf(channel(), config).WA_MEDIA_RETENTION_DAYS).toBe('90');
    expect(envOf(channel({ clinicId: 'clinic-c' }), config).WA_MEDIA_RETENTION_DAYS).toBe('60');
    expect(envOf(channel({ clinicId: 'clinic-b' }), config).WA_MEDIA_RETENTION_DAYS).toBeUndefined();
    // Issued credentials change nothing here: the worker enforces it on its own media.
    const issued = { ...config, natsIssuer: { dir: '/issuer', ttlSeconds: 3600 } };
    expect(envOf(channel(), issued).WA_MEDIA_RETENTION_DAYS).toBe('90');
  });

  test("the clinic stream's retention and the send log's window reach workers that create them, only when not the defaults", () => {
    const config = configOf({
      WA_CLINIC_STREAM_RETENTION_DAYS: '21',
      WA_CLINIC_STREAM_RETENTION: '{"clinic-a":30,"clinic-b":"14"}',
      WA_IDEMPOTENCY_WINDOW_HOURS: '48',
    });
    expect(envOf(channel(), config)).toMatchObject({
      WA_CLINIC_STREAM_RETENTION_DAYS: '30',
      WA_IDEMPOTENCY_WINDOW_HOURS: '48',
    });
    expect(envOf(channel({ clinicId: 'clinic-c' }), config).WA_CLINIC_STREAM_RETENTION_DAYS).toBe('21');
    // The default value: no variable, so a platform on the defaults changes no pod spec.
    expect(envOf(channel({ clinicId: 'clinic-b' }), config).WA_CLINIC_STREAM_RETENTION_DAYS).toBeUndefined();
    // With issued credentials the operator creates both: the workers get neither.
    const issued = { ...config, natsIssuer: { dir: '/issuer', ttlSeconds: 3600 } };
    const env = envOf(channel(), issued);
    expect(env.WA_CLINIC_STREAM_RETENTION_DAYS).toBeUndefined();
    expect(env.WA_IDEMPOTENCY_WINDOW_HOURS).toBeUndefined();
  });

  test("the media size limit is the channel's own, else a fleet-wide one in extra env, else unset (the worker's 100 MiB)", () => {
    const mediaLimitsOf = (c: WhatsAppChannel, config = configOf()) =>
      buildWorkerPod(c, config)
        .spec!.containers[0]!.env!.filter((e) => e.name === 'WA_MEDIA_MAX_BYTES')
        .map((e) => e.value);
    const fleet = configOf({ WA_WORKER_EXTRA_ENV: JSON.stringify({ WA_MEDIA_MAX_BYTES: '20000000' }) });
    const own = channel({ media: { maxBytes: 5_000_000 } });
    expect(mediaLimitsOf(own)).toEqual(['5000000']);
    // The channel's value replaces the fleet's: one variable, never two the kubelet must choose from.
    expect(mediaLimitsOf(own, fleet)).toEqual(['5000000']);
    expect(mediaLimitsOf(channel(), fleet)).toEqual(['20000000']);
    expect(mediaLimitsOf(channel())).toEqual([]);
    // Channels that leave it unset keep their pod: the hash is the one they had before.
    const hash = (c: WhatsAppChannel) =>
      buildWorkerPod(c, configOf()).metadata!.annotations![SPEC_HASH_ANNOTATION];
    expect(hash(channel({ media: {} }))).toBe(hash(channel()));
    expect(hash(own)).not.toBe(hash(channel()));
  });

  test("the WhatsApp Web version is the channel's own, else the fleet's, else unset (Baileys' built-in)", () => {
    const fleet = configOf({ WA_WORKER_WA_WEB_VERSION: '2.3000.1011' });
    expect(envOf(channel(), fleet).WA_WEB_VERSION).toBe('2.3000.1011');
    expect(envOf(channel({ worker: { waWebVersion: '2.3000.2022' } }), fleet).WA_WEB_VERSION).toBe(
      '2.3000.2022',
    );
    expect(envOf(channel({ worker: { waWebVersion: '2.3000.2022' } })).WA_WEB_VERSION).toBe('2.3000.2022');
    expect(envOf(channel()).WA_WEB_VERSION).toBeUndefined();
  });

  test("the channel's send policy reaches the worker as written; without one, no variable (the worker's defaults)", () => {
    const policy = { ratePerMinute: 6, newContactsPerDay: 10, maxWaitSeconds: 20 };
    expect(JSON.parse(String(envOf(channel({ sendPolicy: policy })).WA_SEND_POLICY))).toEqual(policy);
    expect(envOf(channel()).WA_SEND_POLICY).toBeUndefined();
  });

  test("the clinic's send budget: its own, else '*', else none (the worker's default, which is not repeated)", () => {
    const config = configOf({
      WA_CLINIC_SEND_BUDGET:
        '{"*":{"ratePerMinute":60,"burst":10},"clinic-b":{"ratePerMinute":300,"burst":50},"clinic-c":{"ratePerMinute":120,"burst":30}}',
    });
    expect(envOf(channel(), config).WA_CLINIC_SEND_BUDGET).toBe('{"ratePerMinute":60,"burst":10}');
    expect(envOf(channel({ clinicId: 'clinic-b' }), config).WA_CLINIC_SEND_BUDGET).toBe(
      '{"ratePerMinute":300,"burst":50}',
    );
    expect(envOf(channel({ clinicId: 'clinic-c' }), config).WA_CLINIC_SEND_BUDGET).toBeUndefined();
    expect(envOf(channel()).WA_CLINIC_SEND_BUDGET).toBeUndefined();
  });

  test('the identity is per pod incarnation: name and uid from the downward API', () => {
    const env = envOf(channel());
    expect(env).toMatchObject({
      WA_POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      WA_POD_UID: { fieldRef: { fieldPath: 'metadata.uid' } },
      WA_LEASE_HOLDER: '$(WA_POD_NAME)_$(WA_POD_UID)',
    });
    expect(workerIdentity({ metadata: { name: 'wa-front-desk', uid: 'abc' } })).toBe('wa-front-desk_abc');
    expect(workerIdentity({ metadata: { name: 'wa-front-desk' } })).toBeUndefined();
  });

  test('is locked down: no API token, non-root, read-only, no capabilities, seccomp, owner and labels', () => {
    const pod = buildWorkerPod(channel(), configOf());
    expect(pod.metadata).toMatchObject({
      name: 'wa-front-desk',
      namespace: 'clinic-a',
      labels: {
        'whatsapp.clinic.dev/clinic': 'clinic-a',
        'whatsapp.clinic.dev/channel': 'front-desk',
        'app.kubernetes.io/managed-by': 'whatsapp-operator',
      },
      ownerReferences: [{ kind: 'WhatsAppChannel', name: 'front-desk', uid: 'u-1', controller: true }],
    });
    expect(pod.spec).toMatchObject({ automountServiceAccountToken: false, enableServiceLinks: false });
    expect(pod.spec!.serviceAccountName).toBeUndefined();
    expect(pod.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec!.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  test('takes spec overrides over operator defaults', () => {
    const pod = buildWorkerPod(
      channel({
        storage: { bucket: 'clinic-bucket', prefix: 'tenants/wa', kmsKeyId: 'alias/clinic-a' },
        worker: { image: 'img:2', logLevel: 'debug', resources: { limits: { memory: '512Mi', cpu: 1 } } },
      }),
      configOf(),
    );
    const c = pod.spec!.containers[0]!;
    expect(c.image).toBe('img:2');
    expect(
      envOf(
        channel({ storage: { bucket: 'clinic-bucket', prefix: 'tenants/wa', kmsKeyId: 'alias/clinic-a' } }),
      ),
    ).toMatchObject({
      WA_S3_BUCKET: 'clinic-bucket',
      WA_S3_PREFIX: 'tenants/wa',
      WA_KMS_KEY_ID: 'alias/clinic-a',
    });
    expect(Object.fromEntries(c.env!.map((e) => [e.name, e.value]))).toMatchObject({ WA_LOG_LEVEL: 'debug' });
    expect(c.resources!.limits).toEqual({ memory: '512Mi', cpu: '1' });
    expect(c.resources!.requests).toEqual({ cpu: '50m', memory: '192Mi' });
  });

  test("V8's heap follows the container's memory limit; an explicit NODE_OPTIONS wins", () => {
    expect(envOf(channel()).NODE_OPTIONS).toBe(
      '--max-old-space-size=268 --max-semi-space-size=2 --disable-warning=ExperimentalWarning',
    );
    const raised = channel({ worker: { resources: { limits: { memory: '1Gi' } } } });
    expect(envOf(raised).NODE_OPTIONS).toMatch(/^--max-old-space-size=716 /);
    const pinned = configOf({ WA_WORKER_EXTRA_ENV: '{"NODE_OPTIONS":"--max-old-space-size=200"}' });
    const env = buildWorkerPod(raised, pinned).spec!.containers[0]!.env!;
    expect(env.filter((e) => e.name === 'NODE_OPTIONS')).toEqual([
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=200' },
    ]);
  });

  test("the KMS key is the channel's own, else its clinic's, else the platform's", () => {
    const config = configOf({ WA_CLINIC_KMS_KEYS: '{"clinic-a":"alias/wa-clinic-a"}' });
    expect(envOf(channel(), config).WA_KMS_KEY_ID).toBe('alias/wa-clinic-a');
    expect(envOf(channel({ storage: { kmsKeyId: 'alias/front-desk' } }), config).WA_KMS_KEY_ID).toBe(
      'alias/front-desk',
    );
    expect(envOf(channel({ clinicId: 'clinic-b' }), config).WA_KMS_KEY_ID).toBe('alias/k');
  });

  test('long channel names get distinct pod names within 63 characters', () => {
    const long = (suffix: string) => ({
      ...channel(),
      metadata: { ...channel().metadata, name: `${'x'.repeat(70)}${suffix}` },
    });
    const a = buildWorkerPod(long('-a'), configOf()).metadata!;
    const b = buildWorkerPod(long('-b'), configOf()).metadata!;
    expect(a.name!.length).toBeLessThanOrEqual(63);
    expect(a.name).not.toBe(b.name);
    expect(a.labels!['app.kubernetes.io/instance']!.length).toBeLessThanOrEqual(63);
    expect(a.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(buildWorkerPod(channel(), configOf()).metadata!.name).toBe('wa-front-desk');
  });

  test('its hash changes with the spec and only with it', () => {
    const hash = (c: WhatsAppChannel) =>
      buildWorkerPod(c, configOf()).metadata!.annotations![SPEC_HASH_ANNOTATION];
    expect(hash(channel())).toBe(hash(channel()));
    expect(hash(channel({ suspend: false }))).toBe(hash(channel()));
    expect(hash(channel({ worker: { logLevel: 'debug' } }))).not.toBe(hash(channel()));
    expect(hash(channel({ phoneNumber: '+5511987654321' }))).not.toBe(hash(channel()));
    expect(hash(channel({ worker: { waWebVersion: '2.3000.2022' } }))).not.toBe(hash(channel()));
  });

  test('a new fleet WhatsApp Web version changes every pod hash (the pods roll), the same version none', () => {
    const hash = (config: OperatorConfig) =>
      buildWorkerPod(channel(), config).metadata!.annotations![SPEC_HASH_ANNOTATION];
    const a = configOf({ WA_WORKER_WA_WEB_VERSION: '2.3000.1011' });
    const b = configOf({ WA_WORKER_WA_WEB_VERSION: '2.3000.2022' });
    expect(hash(a)).not.toBe(hash(configOf()));
    expect(hash(b)).not.toBe(hash(a));
    expect(hash(configOf({ WA_WORKER_WA_WEB_VERSION: '2.3000.1011' }))).toBe(hash(a));
    // A channel that sets its own version does not roll when only the fleet's changes.
    const own = channel({ worker: { waWebVersion: '2.3000.3033' } });
    expect(buildWorkerPod(own, a).metadata!.annotations).toEqual(
      buildWorkerPod(own, b).metadata!.annotations,
    );
  });

  test('never carries secrets in its spec; per-clinic Secrets for NATS credentials and extra env', () => {
    const pod = buildWorkerPod(
      channel(),
      configOf({ WA_WORKER_NATS_SECRET: 'wa-nats-{clinicId}', WA_WORKER_ENV_SECRET: 's3-{clinicId}' }),
    );
    expect(pod.spec!.volumes).toEqual([
      {
        name: 'nats-creds',
        secret: {
          secretName: 'wa-nats-clinic-a',
          items: [{ key: 'creds', path: 'creds' }],
          defaultMode: 0o440,
        },
      },
      { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } },
    ]);
    const c = pod.spec!.containers[0]!;
    expect(c.volumeMounts).toEqual([
      { name: 'nats-creds', mountPath: '/var/run/secrets/whatsapp/nats', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(c.envFrom).toEqual([{ secretRef: { name: 's3-clinic-a' } }]);
    expect(envOf(channel(), configOf({ WA_WORKER_NATS_SECRET: 'x' })).NATS_CREDS_FILE).toBe(
      '/var/run/secrets/whatsapp/nats/creds',
    );
    expect(JSON.stringify(pod)).not.toMatch(/SECRET_ACCESS_KEY|password|token=/i);
  });
});
