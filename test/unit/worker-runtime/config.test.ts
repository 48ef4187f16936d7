import { channelStatePrefix, parseWorkerConfig } from '../../../worker/src/config.ts';

const minimal = {
  WA_CLINIC_ID: 'clinic-a',
  WA_CHANNEL_ID: 'main',
  WA_S3_BUCKET: 'wa-state',
  WA_KMS_KEY_ID: 'alias/wa',
  NATS_URL: 'nats://127.0.0.1:4222',
  HOSTNAME: 'wa-clinic-a-main',
};

describe('worker configuration', () => {
  test('minimal environment gives safe defaults', () => {
    const r = parseWorkerConfig(minimal);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config).toMatchObject({
      clinicId: 'clinic-a',
      channelId: 'main',
      leaseHolder: 'wa-clinic-a-main',
      pairing: 'qr',
      phoneNumber: undefined,
      logLevel: 'info',
      s3: {
        bucket: 'wa-state',
        prefix: 'wa',
        region: 'us-east-1',
        endpoint: undefined,
        forcePathStyle: false,
      },
      kms: { keyId: 'alias/wa', region: 'us-east-1', endpoint: undefined },
      nats: { servers: ['nats://127.0.0.1:4222'], credsFile: undefined },
      waWebSocketUrl: undefined,
      trustRootFile: undefined,
      httpPort: 8080,
      httpHost: '0.0.0.0',
      maxQrCodes: 6,
      onLoggedOut: 'quarantine',
      onBanned: 'keep',
    });
    expect(channelStatePrefix(r.config)).toBe('wa/clinic-a/main/');
  });

  test("the send log's window and the clinic stream's retention: 24 h and 14 days, or what the operator passes", () => {
    const defaults = parseWorkerConfig(minimal);
    if (!defaults.ok) throw new Error(defaults.errors.join());
    expect(defaults.config).toMatchObject({ idempotencyWindowHours: 24, clinicStreamRetentionDays: 14 });
    const set = parseWorkerConfig({
      ...minimal,
      WA_IDEMPOTENCY_WINDOW_HOURS: '48',
      WA_CLINIC_STREAM_RETENTION_DAYS: '30',
    });
    expect(set.ok && set.config).toMatchObject({ idempotencyWindowHours: 48, clinicStreamRetentionDays: 30 });
    const bad = parseWorkerConfig({
      ...minimal,
      WA_IDEMPOTENCY_WINDOW_HOURS: '0',
      WA_CLINIC_STREAM_RETENTION_DAYS: 'x',
    });
    expect(bad.ok ? [] : bad.errors.join('\n')).toMatch(
      /WA_IDEMPOTENCY_WINDOW_HOURS[\s\S]*WA_CLINIC_STREAM_RETENTION_DAYS/,
    );
  });

  test("WA_SEND_POLICY: the safe defaults when absent, the spec's fields when given, an error naming a bad field", () => {
    const defaults = parseWorkerConfig(minimal);
    expect(defaults.ok && defaults.config.sendPolicy).toMatchObject({
      ratePerMinute: 20,
      newContactsPerDay: 50,
    });
    const given = parseWorkerConfig({
      ...minimal,
      WA_SEND_POLICY: '{"ratePerMinute":6,"maxWaitSeconds":10}',
    });
    expect(given.ok && given.config.sendPolicy).toMatchObject({
      ratePerMinute: 6,
      maxWaitMs: 10_000,
      burst: 5,
    });
    const bad = parseWorkerConfig({ ...minimal, WA_SEND_POLICY: '{"burst":0}' });
    expect(bad.ok ? [] : bad.errors).toEqual(['WA_SEND_POLICY: burst must be an integer from 1 to 100']);
  });

  test('NATS_URL may list several servers, as the operator passes its own on; each is checked', () => {
    const r = parseWorkerConfig({ ...minimal, NATS_URL: 'nats://a:4222, tls://b:4222' });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config.nats.servers).toEqual(['nats://a:4222', 'tls://b:4222']);
    const bad = parseWorkerConfig({ ...minimal, NATS_URL: 'nats://a:4222,http://b:80' });
    expect(bad.ok ? [] : bad.errors).toEqual([
      'NATS_URL="http://b:80" must be a URL starting with nats: or tls: or ws: or wss:',
    ]);
  });

  test('every problem is reported at once, naming the variable', () => {
    const r = parseWorkerConfig({ WA_CLINIC_ID: 'Clinic_A', WA_PAIRING: 'sms', WA_HTTP_PORT: '70000' });
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.errors.join('\n');
    for (const name of [
      'WA_CLINIC_ID="Clinic_A"',
      'WA_CHANNEL_ID',
      'WA_S3_BUCKET',
      'WA_KMS_KEY_ID',
      'NATS_URL',
      'WA_PAIRING="sms"',
      'WA_HTTP_PORT="70000"',
      'WA_LEASE_HOLDER',
    ]) {
      expect(text).toContain(name);
    }
  });

  test('pairing by code needs an E.164 number, stored without "+"', () => {
    const missing = parseWorkerConfig({ ...minimal, WA_PAIRING: 'code' });
    expect(missing.ok).toBe(false);
    const bad = parseWorkerConfig({ ...minimal, WA_PAIRING: 'code', WA_PHONE_NUMBER: '12-34' });
    expect(bad.ok).toBe(false);
    const good = parseWorkerConfig({ ...minimal, WA_PAIRING: 'code', WA_PHONE_NUMBER: '+5511999990000' });
    expect(good.ok && good.config.phoneNumber).toBe('5511999990000');
  });

  test('the simulator endpoint and trust root come together or not at all', () => {
    expect(parseWorkerConfig({ ...minimal, WA_WS_URL: 'ws://127.0.0.1:9000/ws/chat' }).ok).toBe(false);
    expect(parseWorkerConfig({ ...minimal, WA_TRUST_ROOT: '/etc/sim/root.pub' }).ok).toBe(false);
    expect(parseWorkerConfig({ ...minimal, WA_WS_URL: 'http://x', WA_TRUST_ROOT: '/r' }).ok).toBe(false);
    const both = parseWorkerConfig({
      ...minimal,
      WA_WS_URL: 'ws://127.0.0.1:9000/ws/chat',
      WA_TRUST_ROOT: '/r',
    });
    expect(both.ok && both.config.waWebSocketUrl).toBe('ws://127.0.0.1:9000/ws/chat');
  });

  test('an S3 endpoint (MinIO) turns on path-style addressing unless told otherwise', () => {
    const minio = parseWorkerConfig({ ...minimal, WA_S3_ENDPOINT: 'http://127.0.0.1:9000' });
    expect(minio.ok && minio.config.s3.forcePathStyle).toBe(true);
    const vhost = parseWorkerConfig({
      ...minimal,
      WA_S3_ENDPOINT: 'http://127.0.0.1:9000',
      WA_S3_FORCE_PATH_STYLE: 'false',
    });
    expect(vhost.ok && vhost.config.s3.forcePathStyle).toBe(false);
  });

  test('prefixes are normalised and path tricks refused', () => {
    const r = parseWorkerConfig({ ...minimal, WA_S3_PREFIX: '/tenants/wa/' });
    expect(r.ok && channelStatePrefix(r.config)).toBe('tenants/wa/clinic-a/main/');
    expect(parseWorkerConfig({ ...minimal, WA_S3_PREFIX: 'a/../b' }).ok).toBe(false);
    expect(parseWorkerConfig({ ...minimal, WA_S3_PREFIX: 'a//b' }).ok).toBe(false);
  });

  test('numbers are range-checked and durations are given in seconds', () => {
    const r = parseWorkerConfig({ ...minimal, WA_DEAF_AFTER_SECONDS: '300', WA_QR_MAX: '3' });
    expect(r.ok && r.config.deafAfterMs).toBe(300_000);
    expect(r.ok && r.config.maxQrCodes).toBe(3);
    expect(parseWorkerConfig({ ...minimal, WA_QR_MAX: '0' }).ok).toBe(false);
    expect(parseWorkerConfig({ ...minimal, WA_QR_MAX: '2.5' }).ok).toBe(false);
    expect(parseWorkerConfig({ ...minimal, WA_ON_LOGGED_OUT: 'delete' }).ok).toBe(false);
  });

  test('the lease and store timeouts have documented defaults, and the renewal period follows the TTL', () => {
    const r = parseWorkerConfig(minimal);
    expect(r.ok && r.config.timeouts).toEqual({
      leaseTtlMs: 15_000,
      leaseRenewMs: 5_000,
      leaseMarginMs: 3_000,
      storeRequestMs: 5_000,
      storeConnectMs: 3_000,
    });
    const short = parseWorkerConfig({
      ...minimal,
      WA_LEASE_TTL_SECONDS: '6',
      WA_STORE_REQUEST_TIMEOUT_SECONDS: '2',
    });
    expect(short.ok && short.config.timeouts).toEqual({
      leaseTtlMs: 6_000,
      leaseRenewMs: 2_000,
      leaseMarginMs: 1_000,
      storeRequestMs: 2_000,
      storeConnectMs: 3_000,
    });
  });

  test('a renewal period that leaves no second renewal before the lease is given up is refused', () => {
    const r = parseWorkerConfig({ ...minimal, WA_LEASE_TTL_SECONDS: '15', WA_LEASE_RENEW_SECONDS: '7' });
    expect(r.ok ? [] : r.errors).toEqual([
      'WA_LEASE_RENEW_SECONDS=7 must leave two renewals before the lease is given up ' +
        '(at most (WA_LEASE_TTL_SECONDS - WA_LEASE_MARGIN_SECONDS) / 2 = 6)',
    ]);
    expect(parseWorkerConfig({ ...minimal, WA_LEASE_RENEW_SECONDS: '6' }).ok).toBe(true);
    expect(parseWorkerConfig({ ...minimal, WA_LEASE_TTL_SECONDS: '2' }).ok).toBe(false);
  });
});

/** Local mode selects the disk store and the key file by WA_STATE_DIR / WA_KEY_FILE instead of S3 and KMS. */
const { WA_S3_BUCKET: _bucket, WA_KMS_KEY_ID: _kmsKey, ...localBase } = minimal;

describe('worker configuration in local mode', () => {
  test('WA_STATE_DIR and WA_KEY_FILE replace the bucket and the KMS key', () => {
    const r = parseWorkerConfig({
      ...localBase,
      WA_STATE_DIR: '/tmp/wa/state',
      WA_KEY_FILE: '/tmp/wa/local.key',
    });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config).toMatchObject({ stateDir: '/tmp/wa/state', keyFile: '/tmp/wa/local.key' });
  });

  test('without them the bucket and the KMS key are still required, and say what replaces them', () => {
    const r = parseWorkerConfig(localBase);
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(/^WA_S3_BUCKET is required .*WA_STATE_DIR/),
      expect.stringMatching(/^WA_KMS_KEY_ID is required .*WA_KEY_FILE/),
    ]);
  });

  test('relative paths are refused', () => {
    const r = parseWorkerConfig({ ...localBase, WA_STATE_DIR: 'state', WA_KEY_FILE: 'local.key' });
    expect(r.ok ? [] : r.errors).toEqual([
      'WA_STATE_DIR="state" must be an absolute path',
      'WA_KEY_FILE="local.key" must be an absolute path',
    ]);
  });
});
