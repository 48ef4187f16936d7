import {
  Curve,
  DEFAULT_CONNECTION_CONFIG,
  addTransactionCapability,
  encodeWAMessage,
  generateSignalPubKey,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type BinaryNode,
  type SignalDataSet,
  type SignalKeyStore,
  type WAMessage,
} from '@whiskeysockets/baileys';
import pino from 'pino';
import { GroupCommit } from '../../../worker/src/auth-store/group-commit.ts';
import { InboundGate } from '../../../worker/src/session/inbound-gate.ts';

/**
 * The gate with Baileys' real Signal repository (libsignal) on both ends and an in-memory key
 * store: the order "publish, then commit, then (Baileys) receipt" and the rollback when the
 * publish gives up are checked on real ratchets, not on fakes of them.
 */
const logger = pino({ level: 'silent' });
const ALICE = '5511000000001@s.whatsapp.net';
const BOB = '5511000000002@s.whatsapp.net';

function memoryStore(log: string[], name: string) {
  const data = new Map<string, unknown>();
  const store: SignalKeyStore = {
    get: async (type, ids) => {
      const out: Record<string, unknown> = {};
      for (const id of ids)
        if (data.has(`${type}/${id}`)) out[id] = structuredClone(data.get(`${type}/${id}`));
      return out as never;
    },
    set: async (set: SignalDataSet) => {
      log.push(`${name}:commit:${Object.keys(set).sort().join(',')}`);
      for (const [type, entries] of Object.entries(set)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          if (value === null) data.delete(`${type}/${id}`);
          else data.set(`${type}/${id}`, structuredClone(value));
        }
      }
    },
  };
  return { store, data };
}

/**
 * The memory store behind a group commit, as ChannelState.pipeline uses it: set() returns once
 * the change is visible to reads; the write (the logged commit) happens when its batch runs.
 */
function pipelined(inner: SignalKeyStore, data: Map<string, unknown>) {
  const commits = new GroupCommit({ write: async (batch) => inner.set(batch.keys as SignalDataSet) });
  const store: SignalKeyStore = {
    get: async (type, ids) => {
      const out: Record<string, unknown> = {};
      for (const id of ids) {
        const pending = commits.read(type, id);
        const value = pending.found ? pending.value : data.get(`${type}/${id}`);
        if (value !== undefined && value !== null) out[id] = structuredClone(value);
      }
      return out as never;
    },
    set: async (set: SignalDataSet) => {
      if (commits.hasFailed) throw new Error('an earlier commit failed');
      void commits.add({ keys: structuredClone(set) as never });
    },
  };
  return { store, commits };
}

function party(name: string, log: string[], gate?: InboundGate, groupCommit = false) {
  const creds: AuthenticationCreds = initAuthCreds();
  const memory = memoryStore(log, name);
  const { data } = memory;
  const pipe = groupCommit ? pipelined(memory.store, data) : undefined;
  const store = pipe?.store ?? memory.store;
  const keys = addTransactionCapability(store, logger, { maxCommitRetries: 1, delayBetweenTriesMs: 0 });
  const make = gate ? gate.makeSignalRepository : DEFAULT_CONNECTION_CONFIG.makeSignalRepository;
  const repo = make({ creds, keys }, logger, async () => []);
  return { creds, store: memory.store, data, keys, repo, commits: pipe?.commits };
}

async function setup(deliver: (m: WAMessage, s: AbortSignal) => Promise<void>, groupCommit = false) {
  const log: string[] = [];
  let unmatched = 0;
  // The gate is made before bob's store (bob's repository is built around the gate).
  const bobs: { commits?: GroupCommit } = {};
  const gate = new InboundGate({
    deliver: async (m, s) => {
      log.push(`deliver:${m.key.id}`);
      await deliver(m, s);
    },
    me: () => ({ id: BOB, lid: '' }),
    onUnmatched: () => unmatched++,
    ...(groupCommit
      ? {
          pipeline: {
            prepare: async (m: WAMessage, s: AbortSignal) => async () => {
              log.push(`deliver:${m.key.id}`);
              await deliver(m, s);
            },
            commitAfter: (p: Promise<unknown>) => bobs.commits!.commitAfter(p),
          },
        }
      : {}),
  });
  const alice = party('alice', log);
  const bob = party('bob', log, gate, groupCommit);
  bobs.commits = bob.commits;
  const preKey = Curve.generateKeyPair();
  await bob.store.set({ 'pre-key': { '1': preKey } });
  await alice.repo.injectE2ESession({
    jid: BOB,
    session: {
      registrationId: bob.creds.registrationId,
      identityKey: generateSignalPubKey(bob.creds.signedIdentityKey.public),
      signedPreKey: {
        keyId: bob.creds.signedPreKey.keyId,
        publicKey: generateSignalPubKey(bob.creds.signedPreKey.keyPair.public),
        signature: bob.creds.signedPreKey.signature,
      },
      preKey: { keyId: 1, publicKey: generateSignalPubKey(preKey.public) },
    },
  });
  log.length = 0;
  const send = async (id: string, text: string) => {
    const { type, ciphertext } = await alice.repo.encryptMessage({
      jid: BOB,
      data: encodeWAMessage(proto.Message.fromObject({ conversation: text })),
    });
    log.length = 0;
    const node: BinaryNode = {
      tag: 'message',
      attrs: { id, from: ALICE, t: '1700000000', notify: 'Alice', type: 'text' },
      content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }],
    };
    return { node, type: type as 'pkmsg' | 'msg', ciphertext };
  };
  return { gate, alice, bob, log, send, unmatched: () => unmatched };
}

describe('inbound gate on real Signal sessions', () => {
  test('the message is delivered before the session commit, with the key and content Baileys would build', async () => {
    const delivered: WAMessage[] = [];
    const t = await setup(async (m) => void delivered.push(m));
    const { node, type, ciphertext } = await t.send('MSG1', 'hello doctor');
    t.gate.observe(node);
    const plaintext = await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    expect(
      proto.Message.decode(plaintext.subarray(0, plaintext.length - plaintext[plaintext.length - 1]!))
        .conversation,
    ).toBe('hello doctor');
    expect(t.log).toEqual(['deliver:MSG1', 'bob:commit:identity-key,pre-key,session']);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.key).toMatchObject({ id: 'MSG1', remoteJid: ALICE, fromMe: false });
    expect(delivered[0]!.pushName).toBe('Alice');
    expect(delivered[0]!.messageTimestamp).toBe(1_700_000_000);
    expect(delivered[0]!.message?.conversation).toBe('hello doctor');
    expect(t.gate.wasDelivered('MSG1')).toBe(true);
  });

  test('when delivery gives up, nothing is committed and the same ciphertext decrypts again later', async () => {
    let fail = true;
    const t = await setup(async (_m, signal) => {
      if (fail) {
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        );
      }
    });
    const { node, type, ciphertext } = await t.send('MSG2', 'first try');
    t.gate.observe(node);
    const first = t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    await new Promise((r) => setImmediate(r));
    t.gate.abortWaiting(new Error('socket closed'));
    await expect(first).rejects.toThrow('socket closed');
    expect(t.log).toEqual(['deliver:MSG2']); // no commit: the one-time pre-key and the ratchet are untouched
    expect(t.bob.data.has('pre-key/1')).toBe(true);
    expect([...t.bob.data.keys()].some((k) => k.startsWith('session/'))).toBe(false);

    // WhatsApp redelivers the unacknowledged message: it still decrypts, and is delivered.
    fail = false;
    t.gate.observe(node);
    await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    expect(t.log).toEqual(['deliver:MSG2', 'deliver:MSG2', 'bob:commit:identity-key,pre-key,session']);
    expect(t.bob.data.has('pre-key/1')).toBe(false);
  });

  test('a follow-up message (msg, not pkmsg) goes through the gate too', async () => {
    const delivered: string[] = [];
    const t = await setup(async (m) => void delivered.push(m.message?.conversation ?? ''));
    for (const [id, text] of [
      ['A1', 'one'],
      ['A2', 'two'],
    ]) {
      const { node, type, ciphertext } = await t.send(id!, text!);
      t.gate.observe(node);
      await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    }
    expect(delivered).toEqual(['one', 'two']);
  });

  test('ciphertext the gate never saw decrypts without delivery (and is counted)', async () => {
    const delivered: string[] = [];
    const t = await setup(async (m) => void delivered.push(m.key.id!));
    const { type, ciphertext } = await t.send('MSG3', 'unseen');
    await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    expect(delivered).toEqual([]);
    expect(t.unmatched()).toBe(1);
  });
});

describe('inbound gate with group commit, on real Signal sessions', () => {
  /** A deliver whose JetStream ack the test gives (or refuses) by hand. */
  function manualAcks() {
    const waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
    const deliver = (m: WAMessage) =>
      new Promise<void>((resolve, reject) => void waiting.set(m.key.id!, { resolve, reject }));
    return {
      deliver,
      ack: (id: string) => waiting.get(id)!.resolve(),
      refuse: (id: string, e: Error) => waiting.get(id)!.reject(e),
    };
  }

  test('decrypt returns before the JetStream ack; the commit waits for the acks, and two messages share one write', async () => {
    const acks = manualAcks();
    const t = await setup(acks.deliver, true);
    const decrypted: string[] = [];
    for (const [id, text] of [
      ['B1', 'one'],
      ['B2', 'two'],
    ]) {
      const { node, type, ciphertext } = await t.send(id!, text!);
      t.log.push(`sent:${id}`); // t.send clears the log; keep the order visible
      t.gate.observe(node);
      const plaintext = await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
      decrypted.push(
        proto.Message.decode(plaintext.subarray(0, plaintext.length - plaintext[plaintext.length - 1]!))
          .conversation!,
      );
    }
    // B2 (a follow-up "msg") decrypted from B1's ratchet state, which is not written yet.
    expect(decrypted).toEqual(['one', 'two']);
    expect(t.log).toEqual(['sent:B2', 'deliver:B2']);
    expect(t.bob.data.has('pre-key/1')).toBe(true);
    const durable = t.bob.commits!.whenDurable();
    expect(durable).toBeDefined();
    acks.ack('B1');
    await new Promise((r) => setImmediate(r));
    expect(t.log).toEqual(['sent:B2', 'deliver:B2']); // B2's ack is still missing: nothing written
    acks.ack('B2');
    await durable;
    expect(t.log).toEqual(['sent:B2', 'deliver:B2', 'bob:commit:identity-key,pre-key,session']);
    expect(t.bob.data.has('pre-key/1')).toBe(false);
  });

  test('a refused JetStream publish fails the commit; changes are refused until reset, then the message decrypts again', async () => {
    const acks = manualAcks();
    const t = await setup(acks.deliver, true);
    const { node, type, ciphertext } = await t.send('C1', 'first try');
    t.gate.observe(node);
    await t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    const durable = t.bob.commits!.whenDurable()!;
    acks.refuse('C1', new Error('NATS down'));
    await expect(durable).rejects.toThrow('NATS down');
    expect(t.log).toEqual(['deliver:C1']); // nothing written
    expect(t.bob.data.has('pre-key/1')).toBe(true);

    // Until the socket is replaced (reset), every change is refused.
    t.gate.observe(node);
    await expect(t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext })).rejects.toThrow();
    acks.refuse('C1', new Error('socket closed')); // as the socket's end aborts a waiting delivery
    await t.bob.commits!.settled();

    t.bob.commits!.reset();
    t.gate.observe(node);
    const again = t.bob.repo.decryptMessage({ jid: ALICE, type, ciphertext });
    await again;
    acks.ack('C1');
    await t.bob.commits!.whenDurable();
    expect(t.log.at(-1)).toBe('bob:commit:identity-key,pre-key,session');
    expect(t.bob.data.has('pre-key/1')).toBe(false);
  });
});
