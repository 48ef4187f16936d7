/**
 * Which changes of a channel need a reconcile. The operator's own status writes come back
 * through the watch like any other change; reconciling on them would compute the status it has
 * just written (no write, but a wasted reconcile per write, and a loop if the status ever
 * stopped being a fixed point). So a change that touches nothing but the status, made by the
 * operator's field manager, is dropped. Everything else passes: spec, labels, annotations,
 * finalizers, deletion, and status writes by anyone else (seen in managedFields).
 *
 * A resync hands every object over without a previous version: it always passes.
 */
import type { WhatsAppChannel } from '../../../contract/index.ts';

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  time?: string | Date;
}

type WithManagedFields = WhatsAppChannel & { metadata: { managedFields?: ManagedFieldsEntry[] } };

/** Everything a reconcile reads, except the status. */
function desired(c: WhatsAppChannel): string {
  const m = c.metadata;
  return JSON.stringify([
    m.uid,
    m.generation,
    m.labels ?? {},
    m.annotations ?? {},
    m.finalizers ?? [],
    m.deletionTimestamp ?? null,
    c.spec,
  ]);
}

/** The status writes of other managers, as managedFields record them (manager, time). */
function foreignStatusWrites(c: WhatsAppChannel, ourManager: string): string {
  const entries = (c as WithManagedFields).metadata.managedFields ?? [];
  return JSON.stringify(
    entries
      .filter((e) => e.subresource === 'status' && e.manager !== ourManager)
      .map((e) => [e.manager, e.operation, String(e.time ?? '')]),
  );
}

export function needsReconcile(
  previous: WhatsAppChannel | undefined,
  current: WhatsAppChannel,
  ourManager: string,
): boolean {
  if (!previous) return true;
  if (desired(previous) !== desired(current)) return true;
  if (JSON.stringify(previous.status ?? null) === JSON.stringify(current.status ?? null)) return false;
  return foreignStatusWrites(previous, ourManager) !== foreignStatusWrites(current, ourManager);
}

/**
 * The cache keeps managedFields without their field sets (`fieldsV1`, the bulk of them): who
 * wrote what part when is all the predicate needs.
 */
export function slimManagedFields<T extends { metadata?: object }>(obj: T): T {
  const meta = obj.metadata as { managedFields?: Array<ManagedFieldsEntry & { fieldsV1?: unknown }> };
  if (meta?.managedFields)
    meta.managedFields = meta.managedFields.map(({ manager, operation, subresource, time }) => ({
      ...(manager === undefined ? {} : { manager }),
      ...(operation === undefined ? {} : { operation }),
      ...(subresource === undefined ? {} : { subresource }),
      ...(time === undefined ? {} : { time }),
    }));
  return obj;
}
