import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runFaultCase } from './fault-case.ts';

/**
 * KMS unreachable for 60 s while the worker runs: the data key was unwrapped once at start and
 * no message needs KMS, so the session stays Connected and nothing is lost or doubled.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-kms', () => proxies.stopAll());

test(
  'KMS unreachable for 60 s during a run: the session stays Connected',
  async () => {
    const { watch, worker, before } = await runFaultCase({
      suite,
      proxies,
      name: 'KMS unreachable for 60 s during a run',
      dependency: 'kms',
      mode: 'down',
      channel: 'kms-during',
      holder: 'pod-kmsr',
      phonePn: '5511900000107',
      contactPn: '5511977770107',
      steps: [],
      staysConnected: true,
    });
    expect(watch.status.filter((s) => s.worker === worker.holder && s.seq > before)).toEqual([]);
  },
  CASE_TIMEOUT_MS,
);
