import { WorkerSuite } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, Proxies, runStartFaultCase } from './fault-case.ts';

/**
 * S3 or KMS away when the worker starts, for 60 s: no status-less crash loop. The worker
 * publishes Pending with the cause, logs the endpoint and the error, keeps trying with backoff
 * and connects without a QR once the dependency answers.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-start', () => proxies.stopAll());

test(
  'S3 refusing connections at start for 60 s: Pending/StoreUnavailable with the cause, no exit',
  async () => {
    await runStartFaultCase({
      suite,
      proxies,
      name: 'S3 refusing connections at start for 60 s',
      dependency: 's3',
      channel: 's3-at-start',
      holder: 'pod-s3s',
      phonePn: '5511900000105',
      contactPn: '5511977770105',
      waiting: (s) =>
        s.phase === 'Pending' &&
        s.reason === 'StoreUnavailable' &&
        /^cannot take the channel lease: S3 unreachable \(ObjectStoreError: get s3:\/\/.*\/lease failed/.test(
          s.message ?? '',
        ),
      logged:
        /"name":"ObjectStoreError".*"reason":"StoreUnavailable","endpoint":"http:\/\/127\.0\.0\.1:\d+".*"msg":"cannot take the channel lease: S3 unreachable/,
      steps: [
        { what: 'Pending/StoreUnavailable', match: (s) => s.reason === 'StoreUnavailable' },
        { what: 'Connecting', match: (s) => s.phase === 'Connecting' },
        { what: 'Connected', match: (s) => s.phase === 'Connected' },
      ],
    });
  },
  CASE_TIMEOUT_MS,
);

test(
  'KMS unreachable at start for 60 s: Pending/KmsUnavailable with the cause, no exit',
  async () => {
    await runStartFaultCase({
      suite,
      proxies,
      name: 'KMS unreachable at start for 60 s',
      dependency: 'kms',
      channel: 'kms-at-start',
      holder: 'pod-kms',
      phonePn: '5511900000106',
      contactPn: '5511977770106',
      waiting: (s) =>
        s.phase === 'Pending' && s.reason === 'KmsUnavailable' && /^KMS did not answer/.test(s.message ?? ''),
      logged:
        /"name":"KmsUnreachableError".*"reason":"KmsUnavailable","endpoint":"http:\/\/127\.0\.0\.1:\d+".*"msg":"KMS did not answer/,
      steps: [
        { what: 'Pending/KmsUnavailable', match: (s) => s.reason === 'KmsUnavailable' },
        { what: 'Connecting', match: (s) => s.phase === 'Connecting' },
        { what: 'Connected', match: (s) => s.phase === 'Connected' },
      ],
    });
  },
  CASE_TIMEOUT_MS,
);
