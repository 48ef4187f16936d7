import { jest } from '@jest/globals';
import { WorkQueue } from '../../../operator/src/work-queue.ts';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('work queue', () => {
  test('coalesces events of one key and never runs a key twice at once', async () => {
    let running = 0;
    let maxRunning = 0;
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(async (key) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs.push(key);
      await gate;
      running--;
    }, 4);
    q.add('a');
    await tick();
    for (let i = 0; i < 10; i++) q.add('a'); // while "a" runs: one more run, not ten
    release();
    await tick(10);
    expect(runs).toEqual(['a', 'a']);
    expect(maxRunning).toBe(1);
  });

  test('limits concurrency across keys', async () => {
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick(5);
      running--;
    }, 2);
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
    await tick(50);
    expect(maxRunning).toBe(2);
    expect(running).toBe(0);
  });

  test('backs off a failing key exponentially, per key', async () => {
    jest.useFakeTimers();
    try {
      const times: number[] = [];
      const q = new WorkQueue(async () => {
        times.push(Date.now());
        throw new Error('boom');
      }, 1);
      const errors: string[] = [];
      q.onError = (key) => errors.push(key);
      const start = Date.now();
      q.add('x');
      for (let i = 0; i < 4; i++) await jest.advanceTimersByTimeAsync(10_000);
      q.stop();
      const delays = times.map((t) => t - start);
      expect(delays.slice(0, 4)).toEqual([0, 1_000, 3_000, 7_000]);
      expect(errors.length).toBe(times.length);
    } finally {
      jest.useRealTimers();
    }
  });
});
