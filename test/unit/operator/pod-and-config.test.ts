import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { buildWorkerPod, SPEC_HASH_ANNOTATION } from '../../../operator/src/pod.ts';
import type { WhatsAppChannel } from '../../../contract/index.ts';

const env = {
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'img:1',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
};
const config = (() => {
  const r = parseOperatorConfig(env);
  if (!r.ok) throw new Error(r.errors.join());
  return r.config;
})();
const channel = (spec: Partial<WhatsAppChannel['spec']> = {}): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front-desk', namespace: 'clinic-a', uid: 'u-1' },
  spec: { clinicId: 'clinic-a', channelId: 'front-desk', ...spec },
});

describe('operator configuration', () => {
  test('lists every problem at once', () => {
    const r = parseOperatorConfig({ WA_RECONCILE_CONCURRENCY: 'lots', WA_WORKER_EXTRA_ENV: '[1]' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.join('\n')).toMatch(/NATS_URL is required/);
      expect(r.errors.join('\n')).toMatch(/WA_WORKER_IMAGE is required/);
      expect(r.errors.join('\n')).toMatch(/WA_RECONCILE_CONCURRENCY="lots" must be an integer/);
      expect(r.errors.join('\n')).toMatch(/WA_WORKER_EXTRA_ENV must be a JSON object/);
    }
  });
});

describe('worker pod', () => {
  test('is locked down: no API token, non-root, read-only, no capabilities, seccomp', () => {
    const pod = buildWorkerPod(channel(), config);
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
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
        storage: { bucket: 'clinic-bucket', kmsKeyId: 'alias/clinic-a' },
        worker: { image: 'img:2', logLevel: 'debug', resources: { limits: { memory: '512Mi' } } },
      }),
      config,
    );
    const c = pod.spec!.containers[0]!;
    const e = Object.fromEntries(c.env!.map((x) => [x.name, x.value]));
    expect(c.image).toBe('img:2');
    expect(e).toMatchObject({
      WA_S3_BUCKET: 'clinic-bucket',
      WA_KMS_KEY_ID: 'alias/clinic-a',
      WA_LOG_LEVEL: 'debug',
    });
    expect(c.resources!.limits).toEqual({ memory: '512Mi' });
    expect(c.resources!.requests).toEqual({ cpu: '50m', memory: '128Mi' });
  });

  test('its hash changes with the spec and only with it', () => {
    const hash = (c: WhatsAppChannel) =>
      buildWorkerPod(c, config).metadata!.annotations![SPEC_HASH_ANNOTATION];
    expect(hash(channel())).toBe(hash(channel()));
    expect(hash(channel({ worker: { logLevel: 'debug' } }))).not.toBe(hash(channel()));
    expect(hash(channel({ phoneNumber: '+5511987654321' }))).not.toBe(hash(channel()));
  });

  test('never carries secrets in its spec; NATS credentials come from a Secret volume', () => {
    const r = parseOperatorConfig({ ...env, WA_WORKER_NATS_SECRET: 'worker-nats' });
    if (!r.ok) throw new Error();
    const pod = buildWorkerPod(channel(), r.config);
    expect(pod.spec!.volumes).toEqual([
      { name: 'nats-creds', secret: { secretName: 'worker-nats', defaultMode: 0o400 } },
    ]);
    expect(JSON.stringify(pod)).not.toMatch(/SECRET_ACCESS_KEY|password|token=/i);
  });
});
