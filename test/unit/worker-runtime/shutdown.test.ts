import pino from 'pino';
import { orderedShutdown } from '../../../worker/src/shutdown.ts';

describe('SIGTERM order', () => {
  function parts(drained = true) {
    const steps: string[] = [];
    const step = (name: string) => async () => void steps.push(name);
    const shutdown = orderedShutdown({
      stopWatching: () => void steps.push('watchers'),
      commands: { stop: step('commands') },
      session: { shutdown: step('session') },
      events: {
        close: async (timeoutMs) => {
          steps.push(`events(${timeoutMs})`);
          return drained;
        },
        waiting: drained ? 0 : 3,
      },
      lease: { release: step('lease') },
      graceMs: 25_000,
      logger: pino({ level: 'silent' }),
    });
    return { steps, shutdown };
  }

  test('commands, then the session, then the outbox (half the grace), then the lease; once', async () => {
    const t = parts();
    const first = t.shutdown();
    const second = t.shutdown();
    expect(second).toBe(first);
    await first;
    expect(t.steps).toEqual(['watchers', 'commands', 'session', 'events(12500)', 'lease']);
  });

  test('the lease is released even when events are left and its release fails', async () => {
    const steps: string[] = [];
    await orderedShutdown({
      stopWatching: () => undefined,
      commands: { stop: async () => void steps.push('commands') },
      session: { shutdown: async () => void steps.push('session') },
      events: { close: async () => false, waiting: 3 },
      lease: {
        release: async () => {
          steps.push('lease');
          throw new Error('S3 down');
        },
      },
      graceMs: 1_000,
      logger: pino({ level: 'silent' }),
    })();
    expect(steps).toEqual(['commands', 'session', 'lease']);
  });

  test('after a lease lost to an outage only commands and the session end: the sink and the lease stay', async () => {
    const t = parts();
    await t.shutdown.endSession();
    expect(t.steps).toEqual(['watchers', 'commands', 'session']);
  });
});
