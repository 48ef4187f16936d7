import {
  Outbox,
  OutboxClosedError,
  OutboxFullError,
  type OutboxEvent,
} from '../../../worker/src/events/outbox.ts';

const ev = (n: number, kind: OutboxEvent['kind'] = 'update'): OutboxEvent => ({
  kind,
  subject: 'wa.c.ch.msg.update',
  msgId: `id-${n}`,
  data: new Uint8Array([n]),
});

/** A fake JetStream: publishes fail while `down` is true; stored ids are recorded. */
function fakeSink() {
  const sink = {
    down: false,
    stored: [] as string[],
    attempts: 0,
    wakeRetries: [] as (() => void)[],
    async publish(e: OutboxEvent) {
      sink.attempts++;
      if (sink.down) throw new Error('nats down');
      sink.stored.push(e.msgId);
    },
    // Retries wait until the test releases them, so no real time passes.
    sleep(_ms: number, signal: AbortSignal) {
      return new Promise<void>((resolve, reject) => {
        sink.wakeRetries.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    },
    retryAll() {
      for (const w of sink.wakeRetries.splice(0)) w();
    },
  };
  return sink;
}

const settle = () => new Promise((r) => setImmediate(r));

function make(sink: ReturnType<typeof fakeSink>, pressure: boolean[] = [], startAfter?: Promise<void>) {
  return new Outbox({
    capacity: 10,
    highWater: 6,
    lowWater: 2,
    publish: sink.publish,
    retryDelayMs: () => 1,
    sleep: sink.sleep,
    onPressure: (high) => pressure.push(high),
    ...(startAfter ? { startAfter } : {}),
  });
}

describe('outbox (bounded buffer in front of JetStream)', () => {
  test('publishes nothing before startAfter settles (the stream check), then everything queued, in order', async () => {
    const sink = fakeSink();
    let streamChecked!: () => void;
    const startAfter = new Promise<void>((resolve) => (streamChecked = resolve));
    const box = make(sink, [], startAfter);
    const done = Promise.all([1, 2].map((n) => box.enqueue(ev(n))));
    await settle();
    expect(sink.attempts).toBe(0);
    expect(box.size).toBe(2);
    streamChecked();
    await done;
    expect(sink.stored).toEqual(['id-1', 'id-2']);
    expect(sink.attempts).toBe(2); // no failed publish, so no retry
  });

  test('publishes in order and resolves each event when stored', async () => {
    const sink = fakeSink();
    const box = make(sink);
    await Promise.all([1, 2, 3].map((n) => box.enqueue(ev(n))));
    expect(sink.stored).toEqual(['id-1', 'id-2', 'id-3']);
    expect(box.size).toBe(0);
  });

  test('while NATS is down events wait, pressure rises at high water, and nothing is lost', async () => {
    const sink = fakeSink();
    const pressure: boolean[] = [];
    const box = make(sink, pressure);
    sink.down = true;
    const done = [1, 2, 3, 4, 5, 6].map((n) => box.enqueue(ev(n)));
    await settle();
    expect(box.underPressure).toBe(true);
    expect(pressure).toEqual([true]);
    expect(box.failingSince).toBeDefined();
    // Retries keep failing but do not reorder or drop.
    sink.retryAll();
    await settle();
    expect(sink.stored).toEqual([]);
    sink.down = false;
    sink.retryAll();
    await Promise.all(done);
    expect(sink.stored).toEqual(['id-1', 'id-2', 'id-3', 'id-4', 'id-5', 'id-6']);
    expect(pressure).toEqual([true, false]);
    expect(box.failingSince).toBeUndefined();
  });

  test('the buffer is bounded: beyond capacity enqueue refuses instead of growing', async () => {
    const sink = fakeSink();
    const box = make(sink);
    sink.down = true;
    const accepted = Array.from({ length: 10 }, (_, i) => box.enqueue(ev(i)));
    await expect(box.enqueue(ev(99))).rejects.toBeInstanceOf(OutboxFullError);
    expect(box.size).toBe(10);
    sink.down = false;
    sink.retryAll();
    await Promise.all(accepted);
    expect(sink.stored).toHaveLength(10);
  });

  test('waitForRoom blocks under pressure until the backlog falls to the low-water mark', async () => {
    const sink = fakeSink();
    const box = make(sink);
    sink.down = true;
    const done = Array.from({ length: 7 }, (_, i) => box.enqueue(ev(i)));
    let roomy = false;
    const room = box.waitForRoom().then(() => (roomy = true));
    await settle();
    expect(roomy).toBe(false);
    sink.down = false;
    sink.retryAll();
    await room;
    expect(box.size).toBeLessThanOrEqual(2);
    await Promise.all(done);
  });

  test('waitForRoom can be aborted (the socket closed while a message waited)', async () => {
    const sink = fakeSink();
    const box = make(sink);
    sink.down = true;
    const pending = Array.from({ length: 6 }, (_, i) => box.enqueue(ev(i)).catch(() => undefined));
    const ac = new AbortController();
    const room = box.waitForRoom(ac.signal);
    ac.abort(new Error('socket closed'));
    await expect(room).rejects.toThrow('socket closed');
    box.close();
    await Promise.all(pending);
  });

  test('close rejects what is still waiting: the caller knows it was never stored', async () => {
    const sink = fakeSink();
    const box = make(sink);
    sink.down = true;
    const p = box.enqueue(ev(1));
    await settle();
    box.close();
    await expect(p).rejects.toBeInstanceOf(OutboxClosedError);
    await expect(box.enqueue(ev(2))).rejects.toBeInstanceOf(OutboxClosedError);
  });

  test('drain reports whether everything was published within the time given', async () => {
    const sink = fakeSink();
    const box = make(sink);
    expect(await box.drain(10)).toBe(true);
    sink.down = true;
    const p = box.enqueue(ev(1));
    expect(await box.drain(5)).toBe(false);
    sink.down = false;
    sink.retryAll();
    expect(await box.drain(1000)).toBe(true);
    await p;
  });

  test('rejects inconsistent marks', () => {
    const sink = fakeSink();
    expect(
      () =>
        new Outbox({
          capacity: 5,
          highWater: 6,
          lowWater: 1,
          publish: sink.publish,
          retryDelayMs: () => 1,
          sleep: sink.sleep,
        }),
    ).toThrow();
  });

  test('with a window, several publishes are in flight at once and each event resolves in order', async () => {
    const inFlight: { id: string; ack: () => void }[] = [];
    const box = new Outbox({
      capacity: 10,
      highWater: 8,
      lowWater: 2,
      window: 3,
      publish: (e) => new Promise<void>((ack) => inFlight.push({ id: e.msgId, ack })),
      retryDelayMs: () => 1,
      sleep: () => Promise.resolve(),
    });
    const resolved: string[] = [];
    const enqueue = (n: number) => void box.enqueue(ev(n)).then(() => resolved.push(`id-${n}`));
    enqueue(1); // goes out alone; what arrives while it is in flight goes out together next
    for (const n of [2, 3, 4, 5]) enqueue(n);
    await settle();
    expect(inFlight.map((p) => p.id)).toEqual(['id-1']);
    inFlight[0]!.ack();
    await settle();
    expect(inFlight.map((p) => p.id)).toEqual(['id-1', 'id-2', 'id-3', 'id-4']); // three at once
    inFlight[3]!.ack();
    inFlight[2]!.ack();
    await settle();
    expect(resolved).toEqual(['id-1']); // id-2 is not stored yet: nothing after it resolves
    inFlight[1]!.ack();
    await settle();
    expect(resolved).toEqual(['id-1', 'id-2', 'id-3', 'id-4']);
    expect(inFlight.map((p) => p.id)).toEqual(['id-1', 'id-2', 'id-3', 'id-4', 'id-5']);
  });

  test('with a window, a failed publish is retried from that event on; the ones before it stay resolved', async () => {
    const sink = fakeSink();
    let failNext = 'id-2';
    const box = new Outbox({
      capacity: 10,
      highWater: 8,
      lowWater: 2,
      window: 3,
      publish: async (e) => {
        if (e.msgId === failNext) {
          failNext = '';
          throw new Error('timeout');
        }
        await sink.publish(e);
      },
      retryDelayMs: () => 1,
      sleep: sink.sleep,
    });
    const all = Promise.all([1, 2, 3].map((n) => box.enqueue(ev(n))));
    await settle();
    expect(sink.stored).toEqual(['id-1', 'id-3']);
    sink.retryAll();
    await all;
    // id-3 goes again after id-2 (JetStream drops the copy by its Nats-Msg-Id).
    expect(sink.stored).toEqual(['id-1', 'id-3', 'id-2', 'id-3']);
    expect(box.size).toBe(0);
  });
});
