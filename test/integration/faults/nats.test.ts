import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runFaultCase } from './fault-case.ts';

/**
 * NATS unreachable from the worker for 60 s (its connection reset, new ones refused): inbound
 * messages stay unacknowledged to WhatsApp, the session closes once JetStream stalls, and
 * everything is stored exactly once after NATS is back. The lease (S3) is never at risk.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-nats', () => proxies.stopAll());

test(
  'NATS down for 60 s: EventSinkUnavailable, nothing lost or doubled, no exit',
  async () => {
    const { watch } = await runFaultCase({
      suite,
      proxies,
      name: 'NATS down for 60 s',
      dependency: 'nats',
      mode: 'down',
      channel: 'nats-down',
      holder: 'pod-nats',
      phonePn: '5511900000103',
      contactPn: '5511977770103',
      steps: [
        {
          what: 'EventSinkUnavailable, degraded',
          match: (s) => s.phase === 'Disconnected' && s.reason === 'EventSinkUnavailable' && s.degraded,
        },
        { what: 'Connected again', match: (s) => s.phase === 'Connected' },
      ],
    });
    expect(watch.status.filter((s) => s.reason === 'LeaseLost')).toEqual([]);
  },
  CASE_TIMEOUT_MS,
);
