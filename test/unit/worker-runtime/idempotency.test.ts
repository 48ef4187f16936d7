import { IdempotencyCache } from '../../../worker/src/commands/idempotency.ts';

describe('idempotency cache', () => {
  test('a retried key gets the first result and the work runs once', async () => {
    const cache = new IdempotencyCache<string>(10);
    let runs = 0;
    const work = async () => `sent-${++runs}`;
    expect(await cache.run('k1', 'f', work)).toEqual({ kind: 'fresh', result: 'sent-1' });
    expect(await cache.run('k1', 'f', work)).toEqual({ kind: 'replayed', result: 'sent-1' });
    expect(runs).toBe(1);
  });

  test('a retry while the first run is in flight waits for it instead of running again', async () => {
    const cache = new IdempotencyCache<number>(10);
    let release!: (n: number) => void;
    let runs = 0;
    const work = () => {
      runs++;
      return new Promise<number>((r) => (release = r));
    };
    const first = cache.run('k', 'f', work);
    const second = cache.run('k', 'f', work);
    release(7);
    expect(await first).toEqual({ kind: 'fresh', result: 7 });
    expect(await second).toEqual({ kind: 'replayed', result: 7 });
    expect(runs).toBe(1);
  });

  test('the same key with a different body is a conflict and does not run', async () => {
    const cache = new IdempotencyCache<string>(10);
    await cache.run('k', 'body-a', async () => 'a');
    let ran = false;
    const out = await cache.run('k', 'body-b', async () => {
      ran = true;
      return 'b';
    });
    expect(out).toEqual({ kind: 'conflict', fingerprint: 'body-a' });
    expect(ran).toBe(false);
  });

  test('a thrown failure is forgotten so the retry runs again', async () => {
    const cache = new IdempotencyCache<string>(10);
    await expect(cache.run('k', 'f', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await cache.run('k', 'f', async () => 'ok')).toEqual({ kind: 'fresh', result: 'ok' });
  });

  test('it is bounded: the least recently used finished keys are forgotten first', async () => {
    const cache = new IdempotencyCache<number>(3);
    for (const k of ['a', 'b', 'c']) await cache.run(k, 'f', async () => 1);
    await cache.run('a', 'f', async () => 2); // touch a
    await cache.run('d', 'f', async () => 1); // evicts b
    expect(cache.size).toBe(3);
    expect(await cache.run('a', 'f', async () => 9)).toEqual({ kind: 'replayed', result: 1 });
    expect(await cache.run('b', 'f', async () => 9)).toEqual({ kind: 'fresh', result: 9 });
  });

  test('entries still in flight are never evicted', async () => {
    const cache = new IdempotencyCache<number>(1);
    let release!: (n: number) => void;
    const slow = cache.run('slow', 'f', () => new Promise<number>((r) => (release = r)));
    await cache.run('x', 'f', async () => 1);
    await cache.run('y', 'f', async () => 1);
    let again = 0;
    const retry = cache.run('slow', 'f', async () => ++again);
    release(5);
    expect(await slow).toEqual({ kind: 'fresh', result: 5 });
    expect(await retry).toEqual({ kind: 'replayed', result: 5 });
    expect(again).toBe(0);
  });
});
