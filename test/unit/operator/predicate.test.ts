import type { WhatsAppChannel } from '../../../contract/index.ts';
import { needsReconcile, slimManagedFields } from '../../../operator/src/controller/predicate.ts';

const OURS = 'whatsapp-operator';
type Entry = { manager: string; operation: string; subresource?: string; time: string; fieldsV1?: unknown };

const channel = (
  rv: string,
  extra: { status?: WhatsAppChannel['status']; meta?: Partial<WhatsAppChannel['metadata']> } = {},
  managedFields: Entry[] = [],
): WhatsAppChannel =>
  ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: {
      name: 'c',
      namespace: 'n',
      uid: 'u1',
      generation: 2,
      resourceVersion: rv,
      finalizers: ['whatsapp.clinic.dev/deletion-policy'],
      managedFields,
      ...extra.meta,
    },
    spec: { clinicId: 'a', channelId: 'b' },
    ...(extra.status ? { status: extra.status } : {}),
  }) as WhatsAppChannel;

const userApply: Entry = { manager: 'kubectl-client-side-apply', operation: 'Update', time: 'T0' };
const ourStatus = (time: string): Entry => ({
  manager: OURS,
  operation: 'Apply',
  subresource: 'status',
  time,
});

describe('which channel changes are reconciled', () => {
  test('new objects and resyncs (no previous version) always are', () => {
    expect(needsReconcile(undefined, channel('1'), OURS)).toBe(true);
  });

  test("the operator's own status write is not: that is what the predicate is for", () => {
    const before = channel('1', { status: { phase: 'Pending' } }, [userApply, ourStatus('T1')]);
    const after = channel('2', { status: { phase: 'Connected' } }, [userApply, ourStatus('T2')]);
    expect(needsReconcile(before, after, OURS)).toBe(false);
  });

  test('a status write by anyone else is, so the operator puts its status back', () => {
    const before = channel('1', { status: { phase: 'Connected' } }, [userApply, ourStatus('T1')]);
    const edited = channel('2', { status: { phase: 'Error' } }, [
      userApply,
      ourStatus('T1'),
      { manager: 'kubectl-edit', operation: 'Update', subresource: 'status', time: 'T2' },
    ]);
    expect(needsReconcile(before, edited, OURS)).toBe(true);
    // … also when that manager had written the status before (its entry's time moves on).
    const again = channel('3', { status: { phase: 'Pending' } }, [
      userApply,
      ourStatus('T1'),
      { manager: 'kubectl-edit', operation: 'Update', subresource: 'status', time: 'T3' },
    ]);
    expect(needsReconcile(edited, again, OURS)).toBe(true);
  });

  test.each<[string, Partial<WhatsAppChannel['metadata']>]>([
    ['generation (a spec change)', { generation: 3 }],
    ['labels', { labels: { team: 'x' } }],
    ['annotations (the reconciler progress among them)', { annotations: { k: 'v' } }],
    ['finalizers', { finalizers: [] }],
    ['deletionTimestamp (a deletion request)', { deletionTimestamp: '2026-01-01T00:00:00Z' }],
    ['uid (a new channel of the same name)', { uid: 'u2' }],
  ])('a change of %s is, even together with our own status write', (_what, meta) => {
    const before = channel('1', { status: { phase: 'Pending' } }, [ourStatus('T1')]);
    const after = channel('2', { status: { phase: 'Connected' }, meta }, [ourStatus('T2')]);
    expect(needsReconcile(before, after, OURS)).toBe(true);
  });

  test('a change of nothing the reconciler reads is not', () => {
    const before = channel('1', { status: { phase: 'Pending' } }, [ourStatus('T1')]);
    expect(
      needsReconcile(before, channel('2', { status: { phase: 'Pending' } }, [ourStatus('T1')]), OURS),
    ).toBe(false);
  });

  test('the cache keeps who wrote what when, without the field sets', () => {
    const c = channel('1', {}, [{ ...ourStatus('T1'), fieldsV1: { 'f:status': {} } }]);
    const slim = slimManagedFields(c) as WhatsAppChannel & { metadata: { managedFields: Entry[] } };
    expect(slim.metadata.managedFields).toEqual([ourStatus('T1')]);
  });
});
