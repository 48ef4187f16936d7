/**
 * Questions to WhatsApp that change nothing (`check`, `group-info`): the query to send and the
 * answer as the session port gives it. Pure mapping, so the shapes are checked without a socket.
 */
import { USyncQuery, USyncUser, type GroupMetadata } from '@whiskeysockets/baileys';
import type { GroupInfo, NumberCheck } from './session-port.ts';

/** One usync query asking, per number, "on WhatsApp?" (contact) and its LID. */
export function numberCheckQuery(numbers: string[]): USyncQuery {
  const query = new USyncQuery().withContactProtocol().withLIDProtocol();
  for (const n of numbers) query.withUser(new USyncUser().withPhone(`+${n}`));
  return query;
}

/**
 * The usync answer → one entry per number asked, in the order asked. WhatsApp answers a number
 * with its JID (`<number>@s.whatsapp.net`), so answers are matched by the JID's user part.
 */
export function numberChecks(numbers: string[], list: Record<string, unknown>[]): NumberCheck[] {
  const byUser = new Map<string, Record<string, unknown>>();
  for (const entry of list) {
    if (typeof entry.id === 'string') byUser.set(entry.id.split('@')[0]!.split(':')[0]!, entry);
  }
  return numbers.map((number) => {
    const entry = byUser.get(number);
    const exists = entry?.contact === true;
    if (!exists) return { number, exists };
    const lid = typeof entry.lid === 'string' && entry.lid ? entry.lid : undefined;
    return { number, exists, jid: `${number}@s.whatsapp.net`, ...(lid ? { lid } : {}) };
  });
}

export function groupInfoOf(meta: GroupMetadata): GroupInfo {
  return {
    jid: meta.id,
    subject: meta.subject ?? '',
    ...(meta.owner ? { owner: meta.owner } : {}),
    ...(meta.creation ? { creation: meta.creation } : {}),
    ...(meta.desc ? { description: meta.desc } : {}),
    participants: meta.participants.map((p) => ({
      jid: p.id,
      ...(p.phoneNumber ? { phoneNumber: p.phoneNumber } : {}),
      ...(p.lid ? { lid: p.lid } : {}),
      ...(p.admin ? { admin: p.admin } : {}),
    })),
  };
}

/** Baileys reports an `<error code=404>` answer (unknown group, not a participant) as data 404. */
export function isNotFound(err: unknown): boolean {
  const data = (err as { data?: unknown } | undefined)?.data;
  return (
    data === 404 || data === 403 || (data as { attrs?: { code?: string } } | undefined)?.attrs?.code === '404'
  );
}
