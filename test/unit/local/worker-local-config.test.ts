import { parseWorkerConfig } from '../../../worker/src/config.ts';

/** Local mode selects the disk store and the key file by WA_STATE_DIR / WA_KEY_FILE (worker/src/config.ts). */
const base = {
  WA_CLINIC_ID: 'clinic-a',
  WA_CHANNEL_ID: 'front-desk',
  NATS_URL: 'nats://127.0.0.1:4222',
  WA_LEASE_HOLDER: 'local-front-desk-1',
};

describe('worker configuration in local mode', () => {
  test('WA_STATE_DIR and WA_KEY_FILE replace the bucket and the KMS key', () => {
    const r = parseWorkerConfig({ ...base, WA_STATE_DIR: '/tmp/wa/state', WA_KEY_FILE: '/tmp/wa/local.key' });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config).toMatchObject({ stateDir: '/tmp/wa/state', keyFile: '/tmp/wa/local.key' });
  });

  test('without them the bucket and the KMS key are still required, and say what replaces them', () => {
    const r = parseWorkerConfig(base);
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(/^WA_S3_BUCKET is required .*WA_STATE_DIR/),
      expect.stringMatching(/^WA_KMS_KEY_ID is required .*WA_KEY_FILE/),
    ]);
  });

  test('relative paths are refused', () => {
    const r = parseWorkerConfig({ ...base, WA_STATE_DIR: 'state', WA_KEY_FILE: 'local.key' });
    expect(r.ok ? [] : r.errors).toEqual([
      'WA_STATE_DIR="state" must be an absolute path',
      'WA_KEY_FILE="local.key" must be an absolute path',
    ]);
  });
});
