import { jest } from '@jest/globals';
import { RetryLater, WorkQueue } from '../../../operator/src/controller/work-queue.ts';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** A promise resolved by the n-th call of the returned `done`: tests wait for work, not for the clock. */
function countdown(n: number): { done: () => void; all: Promise<void> } {
  let left = n;
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  return { done: () => --left === 0 && resolve(), all };
}

describe('work queue', () => {
  test('coalesces events of one key and never runs a key twice at once', async () => {
    let running = 0;
    let maxRunning = 0;
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const finished = countdown(2);
    const q = new WorkQueue(async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs.push(key);
      await gate;
      running--;
      finished.done();
    }, 4);
    q.add('a');
    await tick();
    for (let i = 0; i < 10; i++) q.add('a'); // while "a" runs: one more run, not ten
    release();
    await finished.all;
    await tick(); // the queue's own bookkeeping after the 2nd run: a 3rd run would start here
    expect(runs).toEqual(['a', 'a']);
    expect(maxRunning).toBe(1);
  });

  test('limits concurrency across keys and keeps arrival order', async () => {
    let running = 0;
    let maxRunning = 0;
    const order: string[] = [];
    const finished = countdown(5);
    const q = new WorkQueue(async (key) => {
      order.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick(5);
      running--;
      finished.done();
    }, 2);
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
    expect(q.depth).toBe(3);
    await finished.all;
    expect(maxRunning).toBe(2);
    expect(running).toBe(0);
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  describe('with fake timers', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    test('backs off a failing key exponentially, per key, and a success resets it', async () => {
      const times: Record<string, number[]> = { x: [], y: [] };
      let failX = true;
      const q = new WorkQueue(async (key) => {
        times[key]!.push(Date.now());
        if (key === 'y' || failX) throw new Error('boom');
      }, 2);
      const errors: number[] = [];
      q.onError = (_key, _err, attempt) => errors.push(attempt);
      const start = Date.now();
      q.add('x');
      for (let i = 0; i < 8; i++) await jest.advanceTimersByTimeAsync(1_000);
      expect(times.x!.map((t) => t - start)).toEqual([0, 1_000, 3_000, 7_000]);
      q.add('y'); // another key starts its own backoff from 1 s
      await jest.advanceTimersByTimeAsync(1_000);
      expect(times.y!.map((t) => t - start)).toEqual([8_000, 9_000]);
      failX = false;
      await jest.advanceTimersByTimeAsync(8_000); // x's 4th failure waited 8 s; now it succeeds
      expect(times.x!.length).toBe(5);
      q.add('x');
      await jest.advanceTimersByTimeAsync(0);
      expect(times.x!.length).toBe(6); // no backoff left after the success
      await q.stop();
      expect(errors.slice(0, 4)).toEqual([1, 2, 3, 4]);
    });

    test('a wait longer than a Node timer can hold (24.8 days) is kept, not run at once', async () => {
      const times: number[] = [];
      const q = new WorkQueue(async () => void times.push(Date.now()), 1);
      const start = Date.now();
      const DAY = 86_400_000;
      q.add('k', 40 * DAY); // e.g. the renewal of a 60-day credential
      await jest.advanceTimersByTimeAsync(39 * DAY);
      expect(times).toEqual([]);
      await jest.advanceTimersByTimeAsync(DAY);
      expect(times.map((t) => t - start)).toEqual([40 * DAY]);
      await q.stop();
    });

    test('RetryLater shortens the backoff to its hint', async () => {
      const times: number[] = [];
      const q = new WorkQueue(async () => {
        times.push(Date.now());
        if (times.length < 6) throw new RetryLater('deadline near', 1_500);
      }, 1);
      const start = Date.now();
      q.add('k');
      await jest.advanceTimersByTimeAsync(20_000);
      // 1 s, 1.5 s (2 s capped), 1.5 s (4 s capped), …
      expect(times.map((t) => t - start)).toEqual([0, 1_000, 2_500, 4_000, 5_500, 7_000]);
      await q.stop();
    });

    test('requeueAfterMs runs the key again later; an earlier timer for the key wins', async () => {
      const times: number[] = [];
      const q = new WorkQueue(async () => {
        times.push(Date.now());
        return times.length === 1 ? { requeueAfterMs: 5_000 } : undefined;
      }, 1);
      const start = Date.now();
      q.add('k');
      await jest.advanceTimersByTimeAsync(0);
      q.add('k', 2_000); // earlier than the 5 s requeue: replaces it
      q.add('k', 9_000); // later: ignored
      await jest.advanceTimersByTimeAsync(20_000);
      expect(times.map((t) => t - start)).toEqual([0, 2_000]);
      await q.stop();
    });
  });

  test('keys added first run before the others, in their own arrival order; a waiting key moves up once', async () => {
    const order: string[] = [];
    const finished = countdown(5);
    const q = new WorkQueue(async (key) => {
      order.push(key);
      await tick(1);
      finished.done();
    }, 1);
    q.add('a'); // runs at once (the queue is free)
    q.add('b');
    q.add('c');
    q.addFirst('x');
    q.addFirst('c'); // waiting in the normal line: moves up, and runs once
    q.add('x'); // already first: stays there
    expect(q.depth).toBe(3);
    q.add('d');
    await finished.all;
    await tick(5); // a stale entry of "c" left in the normal line would run it a second time here
    expect(order).toEqual(['a', 'x', 'c', 'b', 'd']);
  });

  test('a key added first while it runs runs again first, before keys added earlier', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const finished = countdown(4);
    const q = new WorkQueue(async (key) => {
      order.push(key);
      if (order.length === 1) await gate;
      finished.done();
    }, 1);
    q.add('a');
    await tick();
    q.add('b');
    q.add('c');
    q.add('a'); // while "a" runs: once more, in the normal line...
    q.addFirst('a'); // ...unless something asks for it first
    release();
    await finished.all;
    await tick(5);
    expect(order).toEqual(['a', 'a', 'b', 'c']);
  });

  test('stop waits for runs in progress, and takes no new work', async () => {
    let finished = false;
    const runs: string[] = [];
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      await tick(30);
      finished = true;
    }, 1);
    q.add('a');
    q.add('b');
    await tick();
    await q.stop(5_000);
    expect(finished).toBe(true);
    q.add('c');
    await tick(40);
    expect(runs).toEqual(['a']);
  });
});
