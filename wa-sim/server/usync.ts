/**
 * Answers `usync` queries: device lists, LIDs and "is on WhatsApp" for the users asked about.
 * Baileys 7 drops a user from the key fetch when its answer carries no `<lid val>`, and drops
 * any device ≠ 0 without a non-zero key-index, so both are always present.
 */
import type { Account, Directory } from '../accounts/directory.ts';
import { child, children, iqResult, unixSeconds, type BinaryNode } from '../protocol/nodes.ts';

function deviceList(account: Account): BinaryNode {
  const devices: BinaryNode[] = [{ tag: 'device', attrs: { id: '0' } }];
  for (const companion of account.activeCompanions()) {
    devices.push({
      tag: 'device',
      attrs: { id: String(companion.device), 'key-index': String(companion.keyIndex) },
    });
  }
  return {
    tag: 'devices',
    attrs: {},
    content: [
      { tag: 'device-list', attrs: {}, content: devices },
      { tag: 'key-index-list', attrs: { ts: unixSeconds() } },
    ],
  };
}

function userAnswer(directory: Directory, user: BinaryNode, protocols: string[]): BinaryNode {
  const phone = child(user, 'contact')?.content;
  const phoneDigits =
    typeof phone === 'string'
      ? phone.replace(/\D/g, '')
      : phone instanceof Uint8Array
        ? Buffer.from(phone).toString().replace(/\D/g, '')
        : '';
  const account = user.attrs.jid ? directory.findUser(user.attrs.jid) : directory.findByPn(phoneDigits);
  const jid = user.attrs.jid ?? `${phoneDigits}@s.whatsapp.net`;
  const content: BinaryNode[] = [];
  for (const protocol of protocols) {
    if (protocol === 'devices') {
      content.push(
        account
          ? deviceList(account)
          : { tag: 'devices', attrs: {}, content: [{ tag: 'device-list', attrs: {} }] },
      );
    } else if (protocol === 'lid' && account) {
      content.push({ tag: 'lid', attrs: { val: account.lidJid } });
    } else if (protocol === 'contact') {
      content.push({ tag: 'contact', attrs: { type: account ? 'in' : 'out' } });
    }
  }
  return { tag: 'user', attrs: { jid: account && !user.attrs.jid ? account.jid : jid }, content };
}

export function answerUsync(directory: Directory, iq: BinaryNode): BinaryNode {
  const usync = child(iq, 'usync');
  const protocols = Array.isArray(child(usync, 'query')?.content)
    ? (child(usync, 'query')!.content as BinaryNode[]).map((p) => p.tag)
    : [];
  const users = children(child(usync, 'list'), 'user');
  return iqResult(iq.attrs.id ?? '', [
    {
      tag: 'usync',
      attrs: { sid: usync?.attrs.sid ?? '', index: '0', last: 'true' },
      content: [
        { tag: 'result', attrs: {}, content: protocols.map((tag) => ({ tag, attrs: {} })) },
        { tag: 'list', attrs: {}, content: users.map((user) => userAnswer(directory, user, protocols)) },
      ],
    },
  ]);
}
