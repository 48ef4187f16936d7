import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runFaultCase } from './fault-case.ts';

/**
 * S3 accepting connections and never answering for 60 s: the lease is given up at its own
 * deadline (not after a renewal that hangs past its expiry), the status says S3 is not
 * answering, and the worker comes back once S3 does.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-s3h', () => proxies.stopAll());

test(
  'S3 hanging for 60 s: LeaseLost saying S3 is not answering, no exit, back without a QR',
  async () => {
    await runFaultCase({
      suite,
      proxies,
      name: 'S3 hanging for 60 s',
      dependency: 's3',
      mode: 'hang',
      channel: 's3-hang',
      holder: 'pod-s3h',
      phonePn: '5511900000102',
      contactPn: '5511977770102',
      steps: [
        {
          what: 'LeaseLost saying S3 does not answer',
          match: (s) =>
            s.phase === 'Disconnected' &&
            s.reason === 'LeaseLost' &&
            /^lease could not be renewed: S3 not answering/.test(s.message ?? ''),
        },
        { what: 'Connecting again', match: (s) => s.phase === 'Connecting' },
        { what: 'Connected again', match: (s) => s.phase === 'Connected' },
      ],
    });
  },
  CASE_TIMEOUT_MS,
);
