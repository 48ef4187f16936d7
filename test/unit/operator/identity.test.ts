import type { WhatsAppChannel } from '../../../contract/index.ts';
import { clinicNamespaceBlock, identityBlock, ownerOf } from '../../../operator/src/controller/identity.ts';

/** The clinic rule and the duplicate rule as pure functions (identity.ts). */
const channel = (ns: string, name: string, uid: string, created: string | Date, clinicId = 'clinic-a') =>
  ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name, namespace: ns, uid, creationTimestamp: created },
    spec: { clinicId, channelId: 'front' },
  }) as WhatsAppChannel;

const labels: Record<string, string> = { 'ns-a': 'clinic-a', 'ns-b': 'clinic-b' };
const clinicOf = (ns: string) => labels[ns];

test('the clinic rule: the namespace label must name the channel clinic', () => {
  expect(clinicNamespaceBlock(channel('ns-a', 'x', 'u', '2026-01-01T00:00:00Z'), clinicOf)).toBeUndefined();
  expect(clinicNamespaceBlock(channel('ns-b', 'x', 'u', '2026-01-01T00:00:00Z'), clinicOf)).toMatchObject({
    reason: 'ClinicNamespaceMismatch',
    message: expect.stringContaining('whatsapp.clinic.dev/clinic=clinic-a'),
  });
  expect(
    clinicNamespaceBlock(channel('ns-c', 'x', 'u', '2026-01-01T00:00:00Z'), clinicOf)?.message,
  ).toContain('has no label');
  // Switched off, or local mode: no rule.
  expect(clinicNamespaceBlock(channel('ns-c', 'x', 'u', '2026-01-01T00:00:00Z'), undefined)).toBeUndefined();
});

test('the older claim owns the identity: creation time, then uid; Dates (lists) and strings (watches) alike', () => {
  const first = channel('ns-a', 'one', 'uid-9', new Date('2026-01-01T00:00:00Z'));
  const sameTimeSmallerUid = channel('ns-a', 'two', 'uid-1', '2026-01-01T00:00:00Z');
  const later = channel('ns-a', 'three', 'uid-0', '2026-01-01T00:00:01Z');
  expect(ownerOf([later, first, sameTimeSmallerUid], clinicOf)?.metadata.name).toBe('two');
  expect(identityBlock(first, [later, first, sameTimeSmallerUid], clinicOf)).toMatchObject({
    reason: 'DuplicateChannel',
    message: expect.stringContaining('ns-a/two'),
  });
  expect(identityBlock(sameTimeSmallerUid, [later, first, sameTimeSmallerUid], clinicOf)).toBeUndefined();
});

test("a foreign namespace's older claim does not block the clinic's own channel", () => {
  const foreign = channel('ns-b', 'squatter', 'uid-0', '2026-01-01T00:00:00Z');
  const own = channel('ns-a', 'front', 'uid-1', '2026-02-01T00:00:00Z');
  expect(identityBlock(own, [foreign, own], clinicOf)).toBeUndefined();
  expect(identityBlock(foreign, [foreign, own], clinicOf)?.reason).toBe('ClinicNamespaceMismatch');
  // Without the clinic rule, age alone decides.
  expect(identityBlock(own, [foreign, own], undefined)?.reason).toBe('DuplicateChannel');
});
