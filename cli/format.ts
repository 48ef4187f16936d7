/** Plain-text rendering of events and tables for people (the --json flag skips all of it). */
import type { StatusEvent } from '../contract/index.ts';
import { parseSubject } from '../contract/index.ts';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function statusRow(s: StatusEvent): string[] {
  return [
    s.clinicId,
    s.channelId,
    s.phase,
    s.reason ?? '',
    s.account ?? '',
    String(s.reconnects),
    s.degraded ? 'yes' : 'no',
    s.waWebVersion ?? '',
    s.at,
  ];
}
export const STATUS_HEADERS = [
  'CLINIC',
  'CHANNEL',
  'PHASE',
  'REASON',
  'ACCOUNT',
  'RECONNECTS',
  'DEGRADED',
  'WA VERSION',
  'UPDATED',
];

/** One line per event: time, channel, kind and the interesting fields. */
export function eventLine(subject: string, payload: Record<string, unknown>): string {
  const parsed = parseSubject(subject);
  const where = parsed ? `${parsed.clinicId}/${parsed.channelId}` : subject;
  const at = typeof payload.at === 'string' ? payload.at : new Date().toISOString();
  switch (parsed?.kind) {
    case 'status':
      return `${at} ${where} status ${payload.phase}${payload.reason ? ` (${payload.reason})` : ''}${payload.message ? `: ${payload.message}` : ''}`;
    case 'qr':
      return payload.type === 'code'
        ? `${at} ${where} pairing-code ${payload.code}`
        : `${at} ${where} qr attempt ${payload.attempt}/${payload.maxAttempts}`;
    case 'msg.in':
      return `${at} ${where} message ${payload.id} from ${payload.sender}: ${payload.text ?? `[${payload.type}]`}`;
    case 'msg.update':
      return `${at} ${where} update ${payload.id} ${payload.update}`;
    default:
      return `${at} ${subject} ${JSON.stringify(payload)}`;
  }
}
