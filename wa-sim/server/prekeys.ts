/**
 * The `encrypt` namespace: pre-key count, pre-key upload, signed pre-key rotation, the digest
 * check, and key-bundle fetches for the devices a client is about to encrypt to.
 */
import { companionBundle, type CompanionDevice, type Directory } from '../accounts/directory.ts';
import type { WireBundle } from '../signal/device.ts';
import {
  bytes,
  child,
  children,
  iqError,
  iqResult,
  readUint,
  uintBytes,
  type BinaryNode,
} from '../protocol/nodes.ts';

/** The pre-keys a client holds on the server (answer to `<count/>`). */
export function countAnswer(id: string, companion: CompanionDevice): BinaryNode {
  return iqResult(id, [{ tag: 'count', attrs: { value: String(companion.preKeys.size) } }]);
}

/** Stores an upload: `<registration><type><identity><list><key>…</list><skey>`. */
export function storeUpload(companion: CompanionDevice, iq: BinaryNode): string | undefined {
  const identity = bytes(child(iq, 'identity'));
  if (identity && !identity.equals(companion.identityKey)) return 'identity changed';
  for (const key of children(child(iq, 'list'), 'key')) {
    const keyId = readUint(bytes(child(key, 'id')));
    const value = bytes(child(key, 'value'));
    if (keyId === undefined || value?.length !== 32) return 'malformed pre-key';
    companion.preKeys.set(keyId, value);
  }
  const skey = child(iq, 'skey');
  if (skey) {
    const signedPreKey = parseSignedPreKey(skey);
    if (!signedPreKey) return 'malformed signed pre-key';
    companion.signedPreKey = signedPreKey;
  }
  return undefined;
}

export function parseSignedPreKey(skey: BinaryNode): CompanionDevice['signedPreKey'] | undefined {
  const keyId = readUint(bytes(child(skey, 'id')));
  const publicKey = bytes(child(skey, 'value'));
  const signature = bytes(child(skey, 'signature'));
  if (keyId === undefined || publicKey?.length !== 32 || signature?.length !== 64) return undefined;
  return { keyId, publicKey, signature };
}

function bundleNode(jid: string, bundle: WireBundle): BinaryNode {
  const content: BinaryNode[] = [
    { tag: 'registration', attrs: {}, content: uintBytes(bundle.registrationId, 4) },
    { tag: 'type', attrs: {}, content: Buffer.from([5]) },
    { tag: 'identity', attrs: {}, content: bundle.identityKey },
    {
      tag: 'skey',
      attrs: {},
      content: [
        { tag: 'id', attrs: {}, content: uintBytes(bundle.signedPreKey.keyId, 3) },
        { tag: 'value', attrs: {}, content: bundle.signedPreKey.publicKey },
        { tag: 'signature', attrs: {}, content: bundle.signedPreKey.signature },
      ],
    },
  ];
  if (bundle.preKey) {
    content.push({
      tag: 'key',
      attrs: {},
      content: [
        { tag: 'id', attrs: {}, content: uintBytes(bundle.preKey.keyId, 3) },
        { tag: 'value', attrs: {}, content: bundle.preKey.publicKey },
      ],
    });
  }
  return { tag: 'user', attrs: { jid }, content };
}

/** The bundle of any device: a simulated phone's own, or what a companion uploaded. */
export function bundleFor(directory: Directory, jid: string): WireBundle | undefined {
  const found = directory.findDevice(jid);
  if (!found) return undefined;
  return found.companion ? companionBundle(found.companion) : found.account.phone.bundle();
}

/** `<key><user jid/>…</key>`: one bundle per device asked for; each one-time pre-key is handed out once. */
export function keyFetchAnswer(
  directory: Directory,
  iq: BinaryNode,
  onBundle: (jid: string) => void,
): BinaryNode {
  const id = iq.attrs.id ?? '';
  const users = children(child(iq, 'key'), 'user');
  if (!users.length) return iqError(id, 400, 'bad-request');
  const list = users.map((user): BinaryNode => {
    const jid = user.attrs.jid ?? '';
    const bundle = bundleFor(directory, jid);
    if (!bundle)
      return {
        tag: 'user',
        attrs: { jid },
        content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }],
      };
    onBundle(jid);
    return bundleNode(jid, bundle);
  });
  return iqResult(id, [{ tag: 'list', attrs: {}, content: list }]);
}
