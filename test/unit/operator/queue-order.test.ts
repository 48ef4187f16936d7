import type { WhatsAppChannel } from '../../../contract/index.ts';
import { waitsForWorker } from '../../../operator/src/controller/queue-order.ts';

const channel = (extra: { deletionTimestamp?: string; suspend?: boolean } = {}): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: {
    name: 'front',
    namespace: 'n',
    ...(extra.deletionTimestamp ? { deletionTimestamp: extra.deletionTimestamp } : {}),
  },
  spec: { clinicId: 'a', channelId: 'front', ...(extra.suspend ? { suspend: true } : {}) },
});

test('a channel without its worker pod goes first: a new one, or one whose pod went away', () => {
  expect(waitsForWorker(channel(), false)).toBe(true);
});

test('a channel with its pod, a deleted one and a suspended one wait in the normal line', () => {
  expect(waitsForWorker(channel(), true)).toBe(false);
  expect(waitsForWorker(channel({ deletionTimestamp: '2026-01-01T00:00:00Z' }), false)).toBe(false);
  expect(waitsForWorker(channel({ suspend: true }), false)).toBe(false);
});
