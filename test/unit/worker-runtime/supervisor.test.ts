import pino from 'pino';
import { StatusPublisher } from '../../../worker/src/events/status-publisher.ts';
import { createMetrics } from '../../../worker/src/ops/metrics.ts';
import { InboundGate } from '../../../worker/src/session/inbound-gate.ts';
import type {
  AuthStatePort,
  Clock,
  PairingPayload,
  SessionSocket,
  StatusReport,
} from '../../../worker/src/session/ports.ts';
import {
  DEFAULT_HISTORY_WINDOWS,
  DEFAULT_RECONNECT_PARAMS,
  QR_REFS_ENDED_MESSAGE,
} from '../../../worker/src/session/reconnect-policy.ts';
import { Supervisor, type SupervisorOptions } from '../../../worker/src/session/supervisor.ts';

type Listener = (arg: never) => void;

/** Stands in for a Baileys socket: end() behaves like Baileys' (emits close, drops connection.update listeners). */
class FakeSocket {
  static alive = 0;
  static maxAlive = 0;
  readonly evListeners = new Map<string, Set<Listener>>();
  readonly wsListeners = new Map<string, Set<Listener>>();
  ended = false;
  loggedOut = false;
  queries = 0;
  queryFails = false;
  user: { id: string } | undefined = undefined;
  constructor() {
    FakeSocket.alive++;
    FakeSocket.maxAlive = Math.max(FakeSocket.maxAlive, FakeSocket.alive);
  }
  ev = {
    on: (e: string, l: Listener) => this.#add(this.evListeners, e, l),
    off: (e: string, l: Listener) => this.evListeners.get(e)?.delete(l),
  };
  ws = {
    on: (e: string, l: Listener) => this.#add(this.wsListeners, e, l),
    off: (e: string, l: Listener) => this.wsListeners.get(e)?.delete(l),
  };
  #add(map: Map<string, Set<Listener>>, e: string, l: Listener) {
    if (!map.has(e)) map.set(e, new Set());
    map.get(e)!.add(l);
  }
  emit(e: string, arg: unknown) {
    for (const l of [...(this.evListeners.get(e) ?? [])]) l(arg as never);
  }
  /** A frame (or stanza) arriving on the WebSocket. */
  wsEmit(e: string, arg?: unknown) {
    for (const l of [...(this.wsListeners.get(e) ?? [])]) l(arg as never);
  }
  listenerCount(): number {
    let n = 0;
    for (const s of [...this.evListeners.values(), ...this.wsListeners.values()]) n += s.size;
    return n;
  }
  end(error: Error | undefined) {
    if (this.ended) return;
    this.ended = true;
    FakeSocket.alive--;
    this.emit('connection.update', { connection: 'close', lastDisconnect: { error, date: new Date() } });
    this.evListeners.delete('connection.update');
  }
  async logout() {
    this.loggedOut = true;
    this.end(boom(401, 'Intentional Logout'));
  }
  async requestPairingCode() {
    return 'ABCD1234';
  }
  readonly sent: { jid: string; text: string }[] = [];
  async sendMessage(jid: string, content: { text: string }) {
    this.sent.push({ jid, text: content.text });
    return {
      key: { id: `sent-${FakeSocket.sentIds++}` },
      message: { conversation: content.text },
      messageTimestamp: 1_700_000_000,
    };
  }
  static sentIds = 1;
  readonly relayed: { jid: string; id: string; text: string | null | undefined }[] = [];
  async relayMessage(jid: string, message: { conversation?: string | null }, opts: { messageId: string }) {
    this.relayed.push({ jid, id: opts.messageId, text: message.conversation });
    return opts.messageId;
  }
  async query() {
    this.queries++;
    if (this.queryFails) throw new Error('timed out');
    return {};
  }
  // server-side happenings
  qr(n = 1) {
    for (let i = 0; i < n; i++) this.emit('connection.update', { qr: `qr-${i}` });
  }
  open() {
    this.user = { id: '5511999990000:1@s.whatsapp.net' };
    this.emit('connection.update', { connection: 'open' });
  }
  serverClose(statusCode: number, message = 'x') {
    this.end(boom(statusCode, message));
  }
}

/** What the store's fencing refusal looks like to the supervisor (another worker's write won). */
class FencedWrite extends Error {}

function boom(statusCode: number, message: string) {
  return Object.assign(new Error(message), { output: { statusCode } });
}

class FakeClock implements Clock {
  t = 1_000_000;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.#id;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== h);
  };
  /** Advances time, running due timers in order (and letting promises settle between them). */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

const OPTIONS: SupervisorOptions = {
  reconnect: DEFAULT_RECONNECT_PARAMS,
  windows: DEFAULT_HISTORY_WINDOWS,
  maxQrCodes: 3,
  pairing: 'qr',
  phoneNumber: undefined,
  deaf: { silentAfterMs: 180_000, sendAckTimeoutMs: 60_000, maxSelfCheckFailures: 2 },
  selfCheckIntervalMs: 60_000,
  selfCheckTimeoutMs: 10_000,
};

function setup(over: Partial<SupervisorOptions> = {}, leaseHeld: boolean | (() => Promise<boolean>) = true) {
  FakeSocket.alive = 0;
  FakeSocket.maxAlive = 0;
  FakeSocket.sentIds = 1;
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const statuses: StatusReport[] = [];
  const pairings: PairingPayload[] = [];
  const calls: string[] = [];
  let registered = false;
  let dependencyReady = false;
  const auth: AuthStatePort = {
    isRegistered: () => registered,
    flush: async () => void calls.push('flush'),
    quarantine: async () => {
      calls.push('quarantine');
      registered = false;
    },
    erase: async () => {
      calls.push('erase');
      registered = false;
    },
    healthy: async () => true,
    isFencingError: (err) => err instanceof FencedWrite,
  };
  // The real status producer (start-up publishes Pending through it too), over a fake sink.
  const status = new StatusPublisher(createMetrics({ clinic: 'c', channel: 'main' }));
  status.sendTo({ publishStatus: (r: StatusReport) => void statuses.push(r) });
  const gate = new InboundGate({ deliver: async () => undefined, me: () => ({ id: 'me', lid: '' }) });
  const sup = new Supervisor({
    options: { ...OPTIONS, ...over },
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s as unknown as SessionSocket;
    },
    gate,
    auth,
    lease: { stillHeld: typeof leaseHeld === 'function' ? leaseHeld : async () => leaseHeld },
    status,
    hooks: {
      pairing: (p) => pairings.push(p),
      attach: (socket) => {
        const l = () => undefined;
        socket.ev.on('messages.upsert', l);
        return () => socket.ev.off('messages.upsert', l);
      },
      dependencyReady: async () => dependencyReady,
    },
    clock,
    random: () => 0.5,
    logger: pino({ level: 'silent' }),
  });
  const phases = () => statuses.map((s) => s.phase + (s.reason ? `:${s.reason}` : ''));
  const last = () => sockets[sockets.length - 1]!;
  return {
    sup,
    status,
    clock,
    sockets,
    statuses,
    pairings,
    calls,
    phases,
    last,
    setRegistered: (v: boolean) => (registered = v),
    setDependencyReady: (v: boolean) => (dependencyReady = v),
  };
}

describe('session supervisor', () => {
  test('first pairing: QR codes published, 515 reconnects at once after a creds flush, then Connected', async () => {
    const t = setup();
    t.status.publishStartup('Pending', 'Starting'); // what start-up does before the lease
    t.sup.start();
    t.last().qr(2);
    expect(t.pairings).toEqual([
      { type: 'qr', qr: 'qr-0', attempt: 1, maxAttempts: 3 },
      { type: 'qr', qr: 'qr-1', attempt: 2, maxAttempts: 3 },
    ]);
    t.setRegistered(true);
    t.last().serverClose(515, 'Stream Errored (restart required)');
    await t.clock.advance(0);
    expect(t.calls).toEqual(['flush']);
    expect(t.sockets).toHaveLength(2);
    t.last().open();
    expect(t.sup.phase).toBe('Connected');
    expect(t.phases()).toEqual([
      'Pending:Starting',
      'Connecting',
      'QRRequired',
      'Disconnected:RestartRequired',
      'Connecting',
      'Connected',
    ]);
    expect(t.statuses.at(-1)!.account).toBe('5511999990000:1@s.whatsapp.net');
  });

  test('a new socket only after the old one closed, and the old one keeps no listeners of ours', async () => {
    const t = setup();
    t.sup.start();
    for (let i = 0; i < 30; i++) {
      const s = t.last();
      s.open();
      s.serverClose([428, 500, 408, 503][i % 4]!);
      expect(s.listenerCount()).toBe(0);
      expect(t.sup.hasSocket).toBe(false);
      await t.clock.advance(400_000);
    }
    expect(t.sockets).toHaveLength(31);
    expect(FakeSocket.maxAlive).toBe(1);
    expect(t.calls).toEqual([]); // 500 and friends never touch state
  });

  test('transient closes back off with jitter before reconnecting', async () => {
    const t = setup();
    t.sup.start();
    t.last().serverClose(428);
    // random() = 0.5, first failure: 0.5 × 1 s
    await t.clock.advance(499);
    expect(t.sockets).toHaveLength(1);
    await t.clock.advance(1);
    expect(t.sockets).toHaveLength(2);
    t.last().serverClose(428);
    await t.clock.advance(999);
    expect(t.sockets).toHaveLength(2);
    await t.clock.advance(1);
    expect(t.sockets).toHaveLength(3);
  });

  test('401: Error LoggedOut, state quarantined, never reconnects', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.last().serverClose(401, 'Stream Errored (conflict)');
    await t.clock.advance(24 * 3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.sup.phase).toBe('Error');
    expect(t.sup.reason).toBe('LoggedOut');
    expect(t.calls).toEqual(['quarantine']);
  });

  test('405: Error ClientVersionRejected, state kept', async () => {
    const t = setup();
    t.sup.start();
    t.last().serverClose(405, 'Connection Failure');
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.phases().at(-1)).toBe('Error:ClientVersionRejected');
    expect(t.calls).toEqual([]);
  });

  test('440 with the lease still held: waits at least 30 s, then reconnects', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.last().serverClose(440, 'Stream Errored (conflict)');
    await t.clock.advance(29_999);
    expect(t.sockets).toHaveLength(1);
    await t.clock.advance(10_000);
    expect(t.sockets).toHaveLength(2);
    expect(t.phases()).toContain('Disconnected:ConnectionReplaced');
  });

  test('440 with the lease gone: never reconnects, the worker exits', async () => {
    const t = setup({}, false);
    t.sup.start();
    t.last().open();
    t.last().serverClose(440);
    await t.clock.advance(120_000);
    expect(t.sockets).toHaveLength(1);
    await expect(t.sup.finished).resolves.toEqual({ reason: 'LeaseLost', exitCode: 3 });
  });

  test('440 while S3 does not answer: no verdict, the lease is asked again, and the worker reconnects once it answers', async () => {
    let answers = false;
    const t = setup({}, async () => {
      if (!answers) throw new Error('connect ECONNREFUSED (S3)');
      return true;
    });
    t.sup.start();
    t.last().open();
    t.last().serverClose(440);
    await t.clock.advance(120_000);
    expect(t.sockets).toHaveLength(1); // neither reconnected nor exited
    let finished = false;
    void t.sup.finished.then(() => (finished = true));
    await t.clock.advance(0);
    expect(finished).toBe(false);
    answers = true;
    await t.clock.advance(10_000);
    expect(t.sockets).toHaveLength(2);
  });

  test('a 440 loop never reconnects more than twice a minute', async () => {
    const t = setup();
    t.sup.start();
    for (let i = 0; i < 10; i++) {
      t.last().open();
      t.last().serverClose(440);
      await t.clock.advance(60_000);
    }
    // 10 minutes, one reconnect per ≥30 s wait at most
    expect(t.sockets.length).toBeLessThanOrEqual(1 + 20);
    expect(t.sockets.length).toBeGreaterThan(5);
  });

  test('QR codes are bounded: after the limit the socket closes and no more QR is generated', async () => {
    const t = setup();
    t.sup.start();
    t.last().qr(4);
    expect(t.pairings).toHaveLength(3);
    expect(t.last().ended).toBe(true);
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.phases().at(-1)).toBe('Disconnected:QRExpired');
    // a pair command starts again
    await t.sup.pair('qr', undefined);
    expect(t.sockets).toHaveLength(2);
    t.last().qr();
    expect(t.pairings).toHaveLength(4);
  });

  test('"QR refs attempts ended" from Baileys stops asking', async () => {
    const t = setup();
    t.sup.start();
    t.last().qr();
    t.last().serverClose(408, QR_REFS_ENDED_MESSAGE);
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.phases().at(-1)).toBe('Disconnected:QRExpired');
  });

  test('pairing by code: the code is published instead of QR codes', async () => {
    const t = setup({ pairing: 'code', phoneNumber: '5511999990000' });
    t.sup.start();
    t.last().qr(3);
    await flush();
    expect(t.pairings).toEqual([{ type: 'code', code: 'ABCD1234', phoneNumber: '5511999990000' }]);
    expect(t.sup.phase).toBe('Pairing');
  });

  test('pairing is refused for a linked channel', async () => {
    const t = setup();
    t.setRegistered(true);
    await expect(t.sup.pair('qr', undefined)).rejects.toThrow('already linked');
  });

  test('a deaf session (silent, self-checks failing) is recycled and reconnects at once', async () => {
    const t = setup();
    t.sup.start();
    const s = t.last();
    s.open();
    s.queryFails = true;
    await t.clock.advance(60_000);
    expect(s.ended).toBe(false); // one failure is not enough
    await t.clock.advance(60_000);
    expect(s.ended).toBe(true);
    expect(t.sockets).toHaveLength(2);
    expect(t.phases()).toContain('Disconnected:Recycled');
  });

  test('a healthy session keeps being checked and is left alone', async () => {
    const t = setup();
    t.sup.start();
    const s = t.last();
    s.open();
    for (let i = 0; i < 10; i++) {
      s.wsEmit('frame');
      await t.clock.advance(60_000);
    }
    expect(s.queries).toBe(10);
    expect(s.ended).toBe(false);
  });

  test('a failed store write closes the socket and waits for the store before reconnecting', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.sup.storeFailed(new Error('S3 503'));
    expect(t.last().ended).toBe(true);
    expect(t.phases().at(-1)).toBe('Disconnected:StoreUnavailable');
    expect(t.statuses.at(-1)!.degraded).toBe(true);
    await t.clock.advance(60_000);
    expect(t.sockets).toHaveLength(1);
    t.setDependencyReady(true);
    await t.clock.advance(5_000);
    expect(t.sockets).toHaveLength(2);
    t.last().open();
    expect(t.statuses.at(-1)).toMatchObject({ phase: 'Connected', degraded: false });
  });

  test('SIGTERM: ends the socket without logging out, flushes creds, finishes with exit 0', async () => {
    const t = setup();
    t.sup.start();
    const s = t.last();
    s.open();
    await t.sup.shutdown();
    expect(s.ended).toBe(true);
    expect(s.loggedOut).toBe(false);
    expect(t.calls).toEqual(['flush']);
    await expect(t.sup.finished).resolves.toEqual({ reason: 'Shutdown', exitCode: 0 });
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
  });

  test('logout command: unlinks, erases state, does not reconnect', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    await t.sup.logout();
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.calls).toEqual(['erase']);
    expect(t.phases().at(-1)).toBe('Disconnected:LoggedOutByCommand');
  });

  test('commands reach no socket unless Connected', async () => {
    const t = setup();
    t.sup.start();
    const jid = '5511999990000@s.whatsapp.net';
    await expect(t.sup.send(jid, { kind: 'text', text: 'early' })).rejects.toThrow(
      'not connected (phase Connecting)',
    );
    expect(t.last().sent).toEqual([]);
    t.last().open();
    await expect(t.sup.send(jid, { kind: 'text', text: 'hi' })).resolves.toEqual({
      id: 'sent-1',
      timestamp: 1_700_000_000,
    });
    expect(t.last().sent).toEqual([{ jid, text: 'hi' }]);
  });

  test('a send the server never acks makes the session deaf; an acked one does not', async () => {
    const t = setup({ deaf: { ...OPTIONS.deaf, sendAckTimeoutMs: 90_000 } });
    t.sup.start();
    const s = t.last();
    s.open();
    const jid = '5511999990000@s.whatsapp.net';
    const acked = await t.sup.send(jid, { kind: 'text', text: 'acked' });
    t.sup.messageAcked(acked.id);
    for (let i = 0; i < 3; i++) {
      s.wsEmit('frame');
      await t.clock.advance(60_000);
    }
    expect(s.ended).toBe(false);
    await t.sup.send(jid, { kind: 'text', text: 'never acked' });
    s.wsEmit('frame');
    await t.clock.advance(60_000);
    expect(s.ended).toBe(false); // 60 s < the 90 s ack timeout
    s.wsEmit('frame');
    await t.clock.advance(60_000);
    expect(s.ended).toBe(true);
    expect(t.phases()).toContain('Disconnected:Recycled');
    expect(t.sockets).toHaveLength(2);
  });

  test('a send the server never acked is relayed on the next connection with the same id; an acked one is not', async () => {
    const t = setup();
    t.sup.start();
    const first = t.last();
    first.open();
    const jid = '5511988880000@s.whatsapp.net';
    const acked = await t.sup.send(jid, { kind: 'text', text: 'acked' });
    const lost = await t.sup.send(jid, { kind: 'text', text: 'lost with the connection' });
    t.sup.messageAcked(acked.id);
    first.serverClose(428, 'Connection Closed');
    await t.clock.advance(60_000);
    const second = t.last();
    expect(second).not.toBe(first);
    expect(second.relayed).toEqual([]); // not before Connected
    second.open();
    await t.clock.advance(0);
    expect(second.relayed).toEqual([{ jid, id: lost.id, text: 'lost with the connection' }]);
    // Still unacked: the next connection relays it again; once acked, never again.
    second.serverClose(428, 'Connection Closed');
    await t.clock.advance(60_000);
    const third = t.last();
    third.open();
    await t.clock.advance(0);
    expect(third.relayed).toEqual([{ jid, id: lost.id, text: 'lost with the connection' }]);
    t.sup.messageAcked(lost.id);
    third.serverClose(428, 'Connection Closed');
    await t.clock.advance(60_000);
    t.last().open();
    await t.clock.advance(0);
    expect(t.sockets).toHaveLength(4);
    expect(t.last().relayed).toEqual([]);
  });

  test('a store write refused by fencing is a lost lease: the socket closes and the worker exits 3', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.sup.storeFailed(new FencedWrite('another holder wrote first'));
    expect(t.last().ended).toBe(true);
    await expect(t.sup.finished).resolves.toEqual({ reason: 'LeaseLost', exitCode: 3 });
    await t.clock.advance(3600_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.calls).toEqual([]);
  });

  test('a lease lost while waiting for the store (no socket) is reported, with why, before the worker finishes', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.sup.storeFailed(new Error('S3 503'));
    expect(t.phases().at(-1)).toBe('Disconnected:StoreUnavailable');
    t.sup.leaseLost('lease could not be renewed: S3 unreachable (connect ECONNREFUSED)');
    t.sup.leaseLost(); // a write refused for the same loss: reported once
    expect(t.statuses.filter((s) => s.reason === 'LeaseLost')).toEqual([
      expect.objectContaining({
        phase: 'Disconnected',
        reason: 'LeaseLost',
        message: 'lease could not be renewed: S3 unreachable (connect ECONNREFUSED)',
      }),
    ]);
    await expect(t.sup.finished).resolves.toEqual({ reason: 'LeaseLost', exitCode: 3 });
  });

  test('a lease lost with the socket open: its LeaseLost status says why', async () => {
    const t = setup();
    t.sup.start();
    t.last().open();
    t.sup.leaseLost('lease could not be renewed: S3 not answering');
    expect(t.last().ended).toBe(true);
    await expect(t.sup.finished).resolves.toEqual({ reason: 'LeaseLost', exitCode: 3 });
    expect(t.statuses.at(-1)).toMatchObject({
      phase: 'Disconnected',
      reason: 'LeaseLost',
      message: 'lease could not be renewed: S3 not answering',
    });
  });

  test('pair refusals carry a code', async () => {
    const t = setup();
    await expect(t.sup.pair('code', undefined)).rejects.toMatchObject({ code: 'PhoneNumberMissing' });
    t.setRegistered(true);
    await expect(t.sup.pair('qr', undefined)).rejects.toMatchObject({ code: 'AlreadyLinked' });
    expect(t.sockets).toHaveLength(0);
  });

  test('after many failures the loop is degraded and slows down', async () => {
    const t = setup();
    t.sup.start();
    for (let i = 0; i < 12; i++) {
      t.last().serverClose(503);
      await t.clock.advance(400_000);
    }
    expect(t.statuses.at(-1)!.degraded).toBe(true);
    const before = t.sockets.length;
    t.last().serverClose(503);
    await t.clock.advance(100_000); // degraded cadence: 0.75 × 300 s with random 0.5
    expect(t.sockets.length).toBe(before);
    await t.clock.advance(200_000);
    expect(t.sockets.length).toBe(before + 1);
  });
});
