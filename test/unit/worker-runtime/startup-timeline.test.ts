import { Writable } from 'node:stream';
import { createLogger } from '../../../worker/src/ops/log.ts';
import { StartupTimeline } from '../../../worker/src/ops/startup-timeline.ts';

function capture(level: 'debug' | 'info') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ clinicId: 'c1', channelId: 'main', level }, stream) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('start-up timeline', () => {
  test('each step at debug, then the whole timeline once at info; steps after the end are not noted', async () => {
    const { lines, logger } = capture('debug');
    const timeline = new StartupTimeline(logger);
    timeline.step('modules loaded');
    timeline.step('lease acquired');
    timeline.step('lease acquired'); // the first time counts
    timeline.finish('Connected');
    timeline.step('session started'); // a session started again after a lost lease
    timeline.finish('Connected');
    await flush();
    expect(lines.map((l) => [l['level'], l['step'] ?? null])).toEqual([
      ['debug', 'modules loaded'],
      ['debug', 'lease acquired'],
      ['debug', 'Connected'],
      ['info', null],
    ]);
    const summary = lines[3] as { msg: string; sinceStartMs: Record<string, number> };
    expect(Object.keys(summary.sinceStartMs)).toEqual(['modules loaded', 'lease acquired', 'Connected']);
    const times = Object.values(summary.sinceStartMs);
    // Milliseconds since the process started: this test runs well after it, and they never go back.
    expect(times[0]).toBeGreaterThan(0);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(summary.msg).toBe(`start-up took ${summary.sinceStartMs['Connected']} ms`);
  });

  test('at info level only the summary is logged', async () => {
    const { lines, logger } = capture('info');
    const timeline = new StartupTimeline(logger);
    timeline.step('modules loaded');
    timeline.finish('Connected');
    await flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', sinceStartMs: { 'modules loaded': expect.any(Number) } });
  });
});
