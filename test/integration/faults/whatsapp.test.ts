import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runFaultCase } from './fault-case.ts';

/**
 * The WhatsApp endpoint (the simulator) unreachable for 60 s, past Baileys' keep-alive: the
 * worker reconnects with backoff, never opens a second connection, and what the patient sent
 * meanwhile arrives once, from the server's offline queue.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-wa', () => proxies.stopAll());

test(
  'WhatsApp unreachable for 60 s: reconnects with the same session, one connection at a time',
  async () => {
    const { watch } = await runFaultCase({
      suite,
      proxies,
      name: 'WhatsApp endpoint unreachable for 60 s',
      dependency: 'whatsapp',
      mode: 'down',
      channel: 'wa-down',
      holder: 'pod-wa',
      phonePn: '5511900000104',
      contactPn: '5511977770104',
      steps: [
        { what: 'Disconnected', match: (s) => s.phase === 'Disconnected' },
        { what: 'Connected again', match: (s) => s.phase === 'Connected' },
      ],
    });
    expect(watch.status.filter((s) => s.reason === 'LeaseLost')).toEqual([]);
  },
  CASE_TIMEOUT_MS,
);
