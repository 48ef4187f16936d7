import { createHash } from 'node:crypto';
import { sentRecordKeys } from '../../../cli/commands/sent-records.ts';
import type { ContactScan } from '../../../cli/commands/contact-data.ts';

const event = (channel: string, fields: Record<string, unknown>) => ({
  seq: 1,
  subject: `wa.clinic-a.${channel}.msg.update`,
  storedAt: '2026-01-01T00:00:00.000Z',
  event: fields,
});
const hashed = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 40);

describe("a contact's sent-message records", () => {
  test('are the records of the messages each channel sent to it, once each, under the workers prefix', () => {
    const scan: ContactScan = {
      stream: 'WA_CLINIC_A',
      jids: ['5511977771001@s.whatsapp.net'],
      channels: ['front', 'reception'],
      events: [
        event('reception', { id: 'OUT-1', fromMe: true }),
        event('reception', { id: 'OUT-1', fromMe: true }), // its delivered receipt after its server ack
        event('front', { id: 'OUT-2', fromMe: true }),
        event('reception', { id: 'IN-1', fromMe: false }), // the contact's own: the worker keeps no record
      ],
    };
    expect(sentRecordKeys(scan, 'clinic-a', { bucket: 'b', prefix: 'tenants/wa', region: 'r' })).toEqual([
      `tenants/wa/clinic-a/front/messages/${hashed('OUT-2')}`,
      `tenants/wa/clinic-a/reception/messages/${hashed('OUT-1')}`,
    ]);
  });
});
