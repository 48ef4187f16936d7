import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runFaultCase } from './fault-case.ts';

/**
 * S3 refusing connections for 60 s, four times the lease TTL, while a patient writes and the
 * clinic sends: the worker closes its session when it can no longer prove it holds the lease,
 * says why, stays up, takes the lease back when S3 answers and reconnects without a QR.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-s3', () => proxies.stopAll());

test(
  'S3 refusing connections for 60 s: LeaseLost with the cause, no exit, back without a QR',
  async () => {
    await runFaultCase({
      suite,
      proxies,
      name: 'S3 refusing connections for 60 s',
      dependency: 's3',
      mode: 'down',
      channel: 's3-refused',
      holder: 'pod-s3r',
      phonePn: '5511900000101',
      contactPn: '5511977770101',
      steps: [
        {
          what: 'LeaseLost naming S3 as the cause',
          match: (s) =>
            s.phase === 'Disconnected' &&
            s.reason === 'LeaseLost' &&
            /^lease could not be renewed: S3 unreachable/.test(s.message ?? ''),
        },
        { what: 'Connecting again', match: (s) => s.phase === 'Connecting' },
        { what: 'Connected again', match: (s) => s.phase === 'Connected' },
      ],
    });
  },
  CASE_TIMEOUT_MS,
);
