import { helpText, parseOperatorConfig, wantsHelp } from '../../../operator/src/config.ts';

const required = {
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'img:1',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
};
const errorsOf = (env: Record<string, string>, argv: string[] = []) => {
  const r = parseOperatorConfig(env, argv);
  return r.ok ? [] : r.errors;
};

describe('operator configuration', () => {
  test('lists every problem at once, naming the variable and what is expected', () => {
    const errors = errorsOf({
      WA_RECONCILE_CONCURRENCY: 'lots',
      WA_WORKER_EXTRA_ENV: '[1]',
      WA_S3_ENDPOINT: 'minio:9000',
      WA_LOG_LEVEL: 'chatty',
      WA_LEADER_ELECTION: 'maybe',
    }).join('\n');
    expect(errors).toMatch(/NATS_URL \(or --nats-url\) is required/);
    expect(errors).toMatch(/WA_WORKER_IMAGE \(or --worker-image\) is required/);
    expect(errors).toMatch(/WA_S3_BUCKET \(or --s3-bucket\) is required/);
    expect(errors).toMatch(/WA_KMS_KEY_ID \(or --kms-key-id\) is required/);
    expect(errors).toMatch(/WA_RECONCILE_CONCURRENCY="lots" must be an integer from 1 to 256/);
    expect(errors).toMatch(/WA_WORKER_EXTRA_ENV must be a JSON object/);
    expect(errors).toMatch(/WA_S3_ENDPOINT="minio:9000" must be a URL starting with http: or https:/);
    expect(errors).toMatch(/WA_LOG_LEVEL="chatty" must be one of fatal, error/);
    expect(errors).toMatch(/WA_LEADER_ELECTION="maybe" must be one of true, false/);
  });

  test('flags win over the environment, and errors name the flag that was used', () => {
    const r = parseOperatorConfig({ ...required, WA_RECONCILE_CONCURRENCY: '4' }, [
      '--concurrency=16',
      '--nats-url',
      'nats://other:4222',
      '--watch-namespace=clinic-a',
    ]);
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config).toMatchObject({
      concurrency: 16,
      natsUrl: 'nats://other:4222',
      watchNamespace: 'clinic-a',
    });
    expect(errorsOf(required, ['--http-port=99999'])).toEqual([
      '--http-port="99999" must be an integer from 0 to 65535',
    ]);
    expect(errorsOf(required, ['--no-such-flag'])[0]).toMatch(/Unknown option '--no-such-flag'.*--help/);
  });

  test('defaults', () => {
    const r = parseOperatorConfig({ ...required, POD_NAME: 'op-0', POD_NAMESPACE: 'wa-system' });
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config).toMatchObject({
      watchNamespace: '',
      s3: { prefix: 'wa', region: 'us-east-1', endpoint: undefined },
      deletion: { timeoutMs: 300_000, logoutTimeoutMs: 10_000 },
      resyncMs: 300_000,
      concurrency: 8,
      httpPort: 8080,
      leader: {
        enabled: true,
        identity: 'op-0',
        namespace: 'wa-system',
        name: 'whatsapp-operator-leader',
        leaseMs: 15_000,
      },
      worker: { serviceAccount: undefined, natsSecret: undefined, extraEnv: {} },
    });
  });

  test('values that would make invalid pods or S3 keys are refused before any pod is built', () => {
    const errors = errorsOf({
      ...required,
      WA_S3_BUCKET: 'My_Bucket',
      WA_S3_PREFIX: '/wa//x',
      WA_WORKER_MEMORY_LIMIT: 'lots',
      WA_WORKER_EXTRA_ENV: '{"1BAD":"x"}',
      WA_CLINIC_KMS_KEYS: '{"Clinic_A":"alias/x"}',
    }).join('\n');
    expect(errors).toMatch(/WA_S3_BUCKET="My_Bucket" is not valid/);
    expect(errors).toMatch(/WA_S3_PREFIX="\/wa\/\/x" is not valid/);
    expect(errors).toMatch(/WA_WORKER_MEMORY_LIMIT="lots" is not valid/);
    expect(errors).toMatch(/WA_WORKER_EXTRA_ENV must be a JSON object of variable names to strings/);
    expect(errors).toMatch(/WA_CLINIC_KMS_KEYS must be a JSON object of clinic ids to KMS keys/);
    expect(errorsOf({ ...required, WA_CLINIC_KMS_KEYS: '{"clinic-a":""}' }).join()).toMatch(
      /WA_CLINIC_KMS_KEYS must be/,
    );
  });

  test('clinic stream retention and the send-log window: defaults, per-clinic days, clear errors', () => {
    const r = parseOperatorConfig({
      ...required,
      WA_CLINIC_STREAM_RETENTION: '{"clinic-a":30,"clinic-b":"7"}',
    });
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config.clinicStreams).toEqual({
      retentionDays: 14,
      clinicRetentionDays: { 'clinic-a': 30, 'clinic-b': 7 },
      idempotencyWindowHours: 24,
    });
    for (const bad of [
      '{"clinic-a":0}',
      '{"clinic-a":1.5}',
      '{"Clinic_A":3}',
      '[30]',
      '{"clinic-a":99999}',
    ]) {
      expect(errorsOf({ ...required, WA_CLINIC_STREAM_RETENTION: bad }).join()).toMatch(
        /WA_CLINIC_STREAM_RETENTION must be a JSON object of clinic ids to days/,
      );
    }
    expect(errorsOf({ ...required, WA_IDEMPOTENCY_WINDOW_HOURS: '0' }).join()).toMatch(
      /WA_IDEMPOTENCY_WINDOW_HOURS/,
    );
  });

  test("the clinics' shared send budgets: none by default, per clinic or '*', clear errors", () => {
    const none = parseOperatorConfig(required);
    expect(none.ok && none.config.clinicSendBudgets).toEqual({});
    const r = parseOperatorConfig({
      ...required,
      WA_CLINIC_SEND_BUDGET:
        '{"*":{"ratePerMinute":60,"burst":10},"clinic-a":{"ratePerMinute":300,"burst":50}}',
    });
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config.clinicSendBudgets).toEqual({
      '*': { ratePerMinute: 60, burst: 10 },
      'clinic-a': { ratePerMinute: 300, burst: 50 },
    });
    for (const bad of [
      '{"clinic-a":{"ratePerMinute":0,"burst":1}}',
      '{"clinic-a":{"ratePerMinute":10}}',
      '{"clinic-a":{"ratePerMinute":10,"burst":2,"jitter":1}}',
      '{"Clinic_A":{"ratePerMinute":10,"burst":2}}',
      '{"clinic-a":5}',
      '[1]',
      'nope',
    ]) {
      expect(errorsOf({ ...required, WA_CLINIC_SEND_BUDGET: bad }).join()).toMatch(
        /WA_CLINIC_SEND_BUDGET must be a JSON object of clinic ids \(or "\*"\) to \{"ratePerMinute"/,
      );
    }
  });

  test('the fleet WhatsApp Web version: unset by default, three positive integers, or a clear error', () => {
    const unset = parseOperatorConfig(required);
    if (!unset.ok) throw new Error(unset.errors.join());
    expect(unset.config.worker.waWebVersion).toBeUndefined();
    const set = parseOperatorConfig({ ...required, WA_WORKER_WA_WEB_VERSION: '2.3000.1023223821' });
    if (!set.ok) throw new Error(set.errors.join());
    expect(set.config.worker.waWebVersion).toBe('2.3000.1023223821');
    const flag = parseOperatorConfig(required, ['--worker-wa-web-version=2.3000.7']);
    expect(flag.ok && flag.config.worker.waWebVersion).toBe('2.3000.7');
    expect(errorsOf({ ...required, WA_WORKER_WA_WEB_VERSION: '2.3000' })).toEqual([
      'WA_WORKER_WA_WEB_VERSION="2.3000" is not a WhatsApp Web version: expected three positive integers separated by dots (each at most 4294967295), such as 2.3000.1023223821',
    ]);
    expect(errorsOf(required, ['--worker-wa-web-version=2.0.1'])).toEqual([
      expect.stringMatching(/^--worker-wa-web-version="2\.0\.1" is not a WhatsApp Web version/),
    ]);
    expect(helpText()).toMatch(/--worker-wa-web-version\s+WA_WORKER_WA_WEB_VERSION/);
  });

  test('the rollout policy: defaults, numbers and percentages, per-clinic shares, clear errors', () => {
    const defaults = parseOperatorConfig(required);
    expect(defaults.ok && defaults.config.rollout).toEqual({
      maxUnavailable: { percent: 10 },
      maxUnavailablePerClinic: { percent: 50 },
      clinicMaxUnavailable: {},
      canary: 1,
      maxFailed: { count: 0 },
      healthTimeoutMs: 300_000,
    });
    const set = parseOperatorConfig({
      ...required,
      WA_ROLLOUT_MAX_UNAVAILABLE: '25',
      WA_ROLLOUT_CLINIC_MAX_UNAVAILABLE: '{"clinic-a":"1","clinic-b":"20%"}',
      WA_ROLLOUT_CANARY: '0',
      WA_ROLLOUT_MAX_FAILED: '2%',
    });
    expect(set.ok && set.config.rollout).toMatchObject({
      maxUnavailable: { count: 25 },
      clinicMaxUnavailable: { 'clinic-a': { count: 1 }, 'clinic-b': { percent: 20 } },
      canary: 0,
      maxFailed: { percent: 2 },
    });
    const errors = errorsOf({
      ...required,
      WA_ROLLOUT_MAX_UNAVAILABLE: '150%',
      WA_ROLLOUT_MAX_UNAVAILABLE_PER_CLINIC: 'half',
      WA_ROLLOUT_CLINIC_MAX_UNAVAILABLE: '{"clinic-a":"lots"}',
      WA_ROLLOUT_HEALTH_TIMEOUT_SECONDS: '1',
    }).join('\n');
    expect(errors).toMatch(/WA_ROLLOUT_MAX_UNAVAILABLE="150%" must be at most 100%/);
    expect(errors).toMatch(
      /WA_ROLLOUT_MAX_UNAVAILABLE_PER_CLINIC="half" is not valid: a number of channels or a percentage/,
    );
    expect(errors).toMatch(
      /WA_ROLLOUT_CLINIC_MAX_UNAVAILABLE must be a JSON object of clinic ids to a number or a percentage/,
    );
    expect(errors).toMatch(/WA_ROLLOUT_HEALTH_TIMEOUT_SECONDS="1" must be an integer from 10 to 86400/);
  });

  test('--help lists every flag with its variable', () => {
    expect(wantsHelp(['--help'])).toBe(true);
    expect(wantsHelp(['--nats-url=x'])).toBe(false);
    expect(helpText()).toMatch(/--nats-url\s+NATS_URL\s+NATS server/);
    expect(helpText()).toMatch(/--deletion-timeout\s+WA_DELETION_TIMEOUT_SECONDS/);
  });
});
