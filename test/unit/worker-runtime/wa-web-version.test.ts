import { DEFAULT_CONNECTION_CONFIG } from '@whiskeysockets/baileys';
import { validatePayload } from '../../../contract/index.ts';
import { parseWorkerConfig } from '../../../worker/src/config.ts';
import { statusEvent } from '../../../worker/src/events/payloads.ts';
import type { StatusReport } from '../../../worker/src/session/ports.ts';
import { REASONS } from '../../../worker/src/session/reconnect-policy.ts';
import {
  announcedVersion,
  versionRejectedMessage,
  withVersionAdvice,
} from '../../../worker/src/wa-web-version.ts';

const minimal = {
  WA_CLINIC_ID: 'clinic-a',
  WA_CHANNEL_ID: 'main',
  WA_S3_BUCKET: 'wa-state',
  WA_KMS_KEY_ID: 'alias/wa',
  NATS_URL: 'nats://127.0.0.1:4222',
  HOSTNAME: 'wa-clinic-a-main',
};

const report = (over: Partial<StatusReport>): StatusReport => ({
  phase: 'Error',
  reason: undefined,
  message: undefined,
  account: undefined,
  reconnects: 0,
  degraded: false,
  lastConnectedAt: undefined,
  ...over,
});

describe('WA_WEB_VERSION', () => {
  test('unset: Baileys’ built-in version is used and announced', () => {
    const r = parseWorkerConfig(minimal);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config.waWebVersion).toBeUndefined();
    expect(announcedVersion(r.config.waWebVersion)).toEqual({
      text: DEFAULT_CONNECTION_CONFIG.version.join('.'),
      configured: false,
    });
  });

  test('set: three positive integers become Baileys’ version', () => {
    const r = parseWorkerConfig({ ...minimal, WA_WEB_VERSION: '2.3000.1023223821' });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    expect(r.config.waWebVersion).toEqual([2, 3000, 1023223821]);
    expect(announcedVersion(r.config.waWebVersion)).toEqual({ text: '2.3000.1023223821', configured: true });
  });

  test('anything else is a configuration error naming the variable, with the other problems', () => {
    const r = parseWorkerConfig({ ...minimal, WA_WEB_VERSION: '2.3000', WA_HTTP_PORT: '0' });
    expect(r.ok ? [] : r.errors).toEqual([
      'WA_WEB_VERSION="2.3000" is not a WhatsApp Web version: expected three positive integers separated by dots (each at most 4294967295), such as 2.3000.1023223821',
      'WA_HTTP_PORT="0" must be an integer from 1 to 65535',
    ]);
  });
});

describe('a refused client version in the status', () => {
  const configured = { text: '2.3000.1011', configured: true };

  test('ClientVersionRejected gets a message naming the version and the setting to change', () => {
    const out = withVersionAdvice(report({ reason: REASONS.clientVersionRejected }), configured);
    expect(out.message).toBe(versionRejectedMessage(configured));
    expect(out.message).toContain('2.3000.1011');
    expect(out.message).toContain('worker.waWebVersion');
    expect(out.message).toContain('spec.worker.waWebVersion');
    expect(out.message).toContain('does not retry');
  });

  test('the message says when the refused version is the image’s built-in one', () => {
    const builtIn = announcedVersion(undefined);
    expect(versionRejectedMessage(builtIn)).toContain(
      `${builtIn.text} (the version built into this worker image)`,
    );
    expect(versionRejectedMessage(configured)).toContain('2.3000.1011 (set by the operator or the channel');
  });

  test('other reports pass unchanged', () => {
    for (const r of [
      report({ reason: REASONS.loggedOut }),
      report({ phase: 'Connected' }),
      report({ reason: REASONS.clientVersionRejected, message: 'already explained' }),
    ])
      expect(withVersionAdvice(r, configured)).toBe(r);
  });

  test('every status event carries the announced version and stays valid status.v1', () => {
    const ids = { clinicId: 'clinic-a', channelId: 'main', worker: 'w', waWebVersion: '2.3000.1011' };
    const event = statusEvent(
      ids,
      withVersionAdvice(report({ reason: REASONS.clientVersionRejected }), configured),
      1,
      new Date(),
    );
    expect(event).toMatchObject({ waWebVersion: '2.3000.1011', reason: 'ClientVersionRejected' });
    const json = JSON.parse(JSON.stringify(event));
    expect(validatePayload('status', json)).toEqual({ ok: true, value: json });
    // A report without it (an older worker) is still valid: the field is optional.
    const { waWebVersion: _v, ...older } = json;
    expect(validatePayload('status', older)).toEqual({ ok: true, value: older });
    expect(validatePayload('status', { ...json, waWebVersion: '2.3000' }).ok).toBe(false);
  });
});
