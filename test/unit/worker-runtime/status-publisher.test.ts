import { StatusPublisher } from '../../../worker/src/events/status-publisher.ts';
import { createMetrics } from '../../../worker/src/ops/metrics.ts';
import type { StatusReport } from '../../../worker/src/session/ports.ts';

async function gauge(metrics: ReturnType<typeof createMetrics>, name: string) {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)!;
  return metric.values.filter((v) => v.value === 1).map((v) => v.labels['phase'] ?? 'set');
}

describe('status publisher (the one producer of status)', () => {
  test('pacing: the first unthrottled report rides along with the next status; a flip of throttled republishes', () => {
    const status = new StatusPublisher(createMetrics({ clinic: 'c', channel: 'main' }));
    const sent: StatusReport[] = [];
    status.sendTo({ publishStatus: (report) => void sent.push(report) });
    status.publishStartup('Pending', 'Starting');
    status.setPacing({ throttled: false, ratePerMinute: 20 });
    expect(sent).toHaveLength(1); // not a second Pending
    status.publishStartup('Pending', 'Starting');
    expect(sent[1]!.pacing).toEqual({ throttled: false, ratePerMinute: 20 });
    status.setPacing({ throttled: true, ratePerMinute: 10 });
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({ phase: 'Pending', pacing: { throttled: true, ratePerMinute: 10 } });
    status.setPacing({ throttled: true, ratePerMinute: 5 }); // a new rate alone waits for the next status
    expect(sent).toHaveLength(3);
  });

  test('the phase metric says Pending from the start, before anything can be published', async () => {
    const metrics = createMetrics({ clinic: 'c', channel: 'main' });
    const status = new StatusPublisher(metrics);
    expect(status.phase).toBe('Pending');
    expect(await gauge(metrics, 'wa_worker_phase')).toEqual(['Pending']);
  });

  test('statuses published before the sink exists (NATS still connecting) go to it first, in order', async () => {
    const metrics = createMetrics({ clinic: 'c', channel: 'main' });
    const status = new StatusPublisher(metrics);
    status.publishStartup('Pending', 'Starting');
    status.publish({
      phase: 'Pending',
      reason: 'StoreUnavailable',
      message: 'cannot take the channel lease: S3 unreachable',
      account: undefined,
      reconnects: 0,
      degraded: true,
      lastConnectedAt: undefined,
    });
    // The metrics follow at once; the events wait for the sink.
    expect(await gauge(metrics, 'wa_worker_degraded')).toEqual(['set']);
    const sent: StatusReport[] = [];
    status.sendTo({ publishStatus: (report) => void sent.push(report) });
    status.publishStartup('Error', 'DataKeyUndecryptable', 'KMS refused');
    expect(sent.map((r) => [r.phase, r.reason])).toEqual([
      ['Pending', 'Starting'],
      ['Pending', 'StoreUnavailable'],
      ['Error', 'DataKeyUndecryptable'],
    ]);
  });

  test('whenPhase resolves at the first report of that phase, buffered or not', async () => {
    const status = new StatusPublisher(createMetrics({ clinic: 'c', channel: 'main' }));
    let connected = false;
    const waiting = status.whenPhase('Connected').then(() => (connected = true));
    status.publishStartup('Pending', 'Starting');
    await Promise.resolve();
    expect(connected).toBe(false);
    status.publish({
      phase: 'Connected',
      reason: 'Connected',
      message: undefined,
      account: undefined,
      reconnects: 0,
      degraded: false,
      lastConnectedAt: undefined,
    });
    await waiting;
    expect(connected).toBe(true);
  });

  test('start-up and session reports reach the sink, the phase metric and the degraded gauge alike', async () => {
    const metrics = createMetrics({ clinic: 'c', channel: 'main' });
    const status = new StatusPublisher(metrics);
    const sent: StatusReport[] = [];
    status.sendTo({ publishStatus: (report) => void sent.push(report) });

    status.publishStartup('Pending', 'Starting');
    status.publish({
      phase: 'Disconnected',
      reason: 'StoreUnavailable',
      message: undefined,
      account: undefined,
      reconnects: 1,
      degraded: true,
      lastConnectedAt: undefined,
    });
    expect(status.phase).toBe('Disconnected');
    expect(await gauge(metrics, 'wa_worker_phase')).toEqual(['Disconnected']);
    expect(await gauge(metrics, 'wa_worker_degraded')).toEqual(['set']);

    status.publishStartup('Error', 'DataKeyUndecryptable', 'KMS refused');
    expect(await gauge(metrics, 'wa_worker_phase')).toEqual(['Error']);
    expect(await gauge(metrics, 'wa_worker_degraded')).toEqual([]);
    expect(sent.map((r) => [r.phase, r.reason, r.message, r.degraded])).toEqual([
      ['Pending', 'Starting', undefined, false],
      ['Disconnected', 'StoreUnavailable', undefined, true],
      ['Error', 'DataKeyUndecryptable', 'KMS refused', false],
    ]);
  });
});
