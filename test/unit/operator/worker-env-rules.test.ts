import type { WhatsAppChannel } from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';
import { OPERATOR_WORKER_ENV } from '../../../operator/src/worker-env-rules.ts';

/**
 * K5 (docs/security.md): WA_WORKER_EXTRA_ENV cannot override what the operator sets, nor point
 * workers at another WhatsApp endpoint or trust root; the simulator is a setting of its own.
 */
const required = {
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'img:1',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
};
const errorsOf = (env: Record<string, string>, argv: string[] = []) => {
  const r = parseOperatorConfig({ ...required, ...env }, argv);
  return r.ok ? [] : r.errors;
};
const extra = (env: Record<string, string>) => errorsOf({ WA_WORKER_EXTRA_ENV: JSON.stringify(env) });

test('every variable the operator sets in a pod is on the list extra env may not touch', () => {
  const r = parseOperatorConfig({
    ...required,
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
  });
  if (!r.ok) throw new Error(r.errors.join());
  const channel: WhatsAppChannel = {
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name: 'front-desk', namespace: 'clinic-a', uid: 'u-1' },
    spec: { clinicId: 'clinic-a', channelId: 'front-desk', phoneNumber: '+5511987654321' },
  };
  const names = buildWorkerPod(channel, r.config).spec!.containers[0]!.env!.map((e) => e.name);
  // NODE_OPTIONS is the one tunable default (its code-loading options are refused below).
  expect(names.filter((n) => n !== 'NODE_OPTIONS').sort()).toEqual([...OPERATOR_WORKER_ENV].sort());
});

test('each operator-set variable in WA_WORKER_EXTRA_ENV stops the operator, naming the key', () => {
  for (const key of OPERATOR_WORKER_ENV)
    expect(extra({ [key]: 'x' })).toEqual([
      expect.stringMatching(new RegExp(`^WA_WORKER_EXTRA_ENV may not set ${key}: the operator sets it`)),
    ]);
  expect(extra({ WA_WS_URL: 'ws://elsewhere/ws' }).join()).toContain(
    'the simulator: WA_WORKER_SIMULATOR_URL and WA_WORKER_SIMULATOR_TRUST_ROOT',
  );
  // Named by where it came from: the flag wins over the variable.
  expect(errorsOf({}, ['--worker-extra-env={"WA_CLINIC_ID":"clinic-b"}'])).toEqual([
    '--worker-extra-env may not set WA_CLINIC_ID: the operator sets it for each channel',
  ]);
});

test('another endpoint or trust root is refused, whatever the variable', () => {
  for (const key of [
    'WA_STATE_DIR',
    'WA_KEY_FILE',
    'NATS_TLS_CA',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_KMS',
    'AWS_CA_BUNDLE',
    'NODE_EXTRA_CA_CERTS',
    'NODE_TLS_REJECT_UNAUTHORIZED',
    'SSL_CERT_FILE',
    'HTTPS_PROXY',
    'https_proxy',
    'ALL_PROXY',
  ])
    expect(extra({ [key]: '1' })).toEqual([
      `WA_WORKER_EXTRA_ENV may not set ${key}: it would point workers at another endpoint or trust root`,
    ]);
});

test('NODE_OPTIONS may tune the heap, never load code; every refused key is listed at once', () => {
  expect(extra({ NODE_OPTIONS: '--max-old-space-size=220', WA_LEASE_TTL_SECONDS: '30' })).toEqual([]);
  for (const value of [
    '--require /tmp/x.js',
    '-r ./x',
    '--import=data:text/javascript,1',
    '--inspect=0.0.0.0:9229',
  ])
    expect(extra({ NODE_OPTIONS: value })).toEqual([
      `WA_WORKER_EXTRA_ENV may not set NODE_OPTIONS="${value}": it would load other code into workers`,
    ]);
  expect(extra({ WA_KMS_KEY_ID: 'alias/other', NODE_EXTRA_CA_CERTS: '/ca.pem' })).toHaveLength(2);
});

test('the simulator is an operator setting: both or neither, a ws URL and an absolute path', () => {
  const r = parseOperatorConfig({
    ...required,
    WA_WORKER_SIMULATOR_URL: 'ws://127.0.0.1:9000/ws/chat',
    WA_WORKER_SIMULATOR_TRUST_ROOT: '/etc/wa-sim/root.hex',
  });
  if (!r.ok) throw new Error(r.errors.join());
  expect(r.config.worker.simulator).toEqual({
    url: 'ws://127.0.0.1:9000/ws/chat',
    trustRoot: '/etc/wa-sim/root.hex',
  });
  const none = parseOperatorConfig(required);
  expect(none.ok && none.config.worker.simulator).toBeUndefined();
  expect(errorsOf({ WA_WORKER_SIMULATOR_URL: 'ws://sim/ws' })).toEqual([
    'WA_WORKER_SIMULATOR_URL and WA_WORKER_SIMULATOR_TRUST_ROOT go together (the protocol simulator, tests only)',
  ]);
  expect(
    errorsOf({ WA_WORKER_SIMULATOR_URL: 'https://sim/ws', WA_WORKER_SIMULATOR_TRUST_ROOT: 'root.hex' }),
  ).toEqual([
    'WA_WORKER_SIMULATOR_URL="https://sim/ws" must be a URL starting with ws: or wss:',
    'WA_WORKER_SIMULATOR_TRUST_ROOT="root.hex" is not valid: the root key in 64 hex characters, or an absolute path in the worker',
  ]);
  const key = 'ab'.repeat(32);
  const inline = parseOperatorConfig({
    ...required,
    WA_WORKER_SIMULATOR_URL: 'ws://10.0.0.1:9000/ws/chat',
    WA_WORKER_SIMULATOR_TRUST_ROOT: key,
  });
  expect(inline.ok && inline.config.worker.simulator).toEqual({
    url: 'ws://10.0.0.1:9000/ws/chat',
    trustRoot: key,
  });
});

test("the worker's outage timeouts are the platform's to tune through extra env (docs/worker.md, Outages)", () => {
  const tuning = {
    WA_LEASE_TTL_SECONDS: '30',
    WA_LEASE_RENEW_SECONDS: '8',
    WA_LEASE_MARGIN_SECONDS: '5',
    WA_STORE_REQUEST_TIMEOUT_SECONDS: '4',
    WA_STORE_CONNECT_TIMEOUT_SECONDS: '2',
  };
  expect(extra(tuning)).toEqual([]);
  expect(extra({ ...tuning, NATS_URL: 'nats://elsewhere:4222' })).not.toEqual([]);
});
