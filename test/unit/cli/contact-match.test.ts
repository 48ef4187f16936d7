import { contactJid, ContactJids, normalJid } from '../../../cli/commands/contact-match.ts';

describe('contact matching for data-subject requests', () => {
  test('a number or a JID names the contact; devices and case do not matter', () => {
    expect(contactJid('+55 (11) 97777-1001')).toBe('5511977771001@s.whatsapp.net');
    expect(contactJid('5511977771001:12@S.WhatsApp.net')).toBe('5511977771001@s.whatsapp.net');
    expect(contactJid('123456789012345@lid')).toBe('123456789012345@lid');
    expect(normalJid('5511977771001:3@s.whatsapp.net')).toBe('5511977771001@s.whatsapp.net');
    expect(normalJid(42)).toBeUndefined();
  });

  test('groups and anything that is not a number are refused', () => {
    expect(() => contactJid('1203630@g.us')).toThrow(/not a contact/);
    expect(() => contactJid('alice')).toThrow(/neither/);
    expect(() => contactJid('12')).toThrow(/neither/);
  });

  test("the contact's LID is learnt from an inbound pair, and finds receipts that name only the LID", () => {
    const jids = new ContactJids(['5511977771001']);
    const receipt = { chat: '99887766@lid', fromMe: true };
    expect(jids.matches(receipt)).toBe(false);
    jids.learn({ chat: '99887766@lid', chatAlt: '5511977771001@s.whatsapp.net' });
    expect(jids.all).toEqual(['5511977771001@s.whatsapp.net', '99887766@lid']);
    expect(jids.matches(receipt)).toBe(true);
  });

  test("in a group, only the contact's own messages and receipts are its; the group is never learnt", () => {
    const jids = new ContactJids(['5511977771001']);
    jids.learn({ chat: '1203630@g.us', chatAlt: '5511977771001@s.whatsapp.net' });
    expect(jids.all).toEqual(['5511977771001@s.whatsapp.net']);
    expect(jids.matches({ chat: '1203630@g.us', sender: '5511977771001:2@s.whatsapp.net' })).toBe(true);
    expect(jids.matches({ chat: '1203630@g.us', sender: '5511977771002@s.whatsapp.net' })).toBe(false);
    expect(jids.matches({ chat: '1203630@g.us', participant: '5511977771001@s.whatsapp.net' })).toBe(true);
  });

  test("another contact's events never match, even one whose number contains the contact's", () => {
    const jids = new ContactJids(['977771001']);
    expect(
      jids.matches({ chat: '5511977771001@s.whatsapp.net', sender: '5511977771001@s.whatsapp.net' }),
    ).toBe(false);
  });
});
