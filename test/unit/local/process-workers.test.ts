import type { WorkerProcessState } from '../../../operator/src/local/process-runtime.ts';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { localWorkerEnv, observeProcess } from '../../../operator/src/local/process-workers.ts';

/** A worker process as the reconciler's neutral observation (the status is computed from it). */
const state = (extra: Partial<WorkerProcessState> = {}): WorkerProcessState => ({
  name: 'wa-front',
  specHash: 'h1',
  ownerUid: 'u1',
  stopping: false,
  current: undefined,
  failures: 0,
  restarts: 0,
  lastExit: undefined,
  restartAt: undefined,
  ...extra,
});
const current = { uid: 'i1', holder: 'wa-front_i1', pid: 42, startedAt: 0 };

test('a running process: its incarnation is the identity its reports carry; owner and spec hash as started', () => {
  expect(observeProcess(state({ current }))).toMatchObject({
    name: 'wa-front',
    activity: 'running',
    identity: 'wa-front_i1',
    ownerUid: 'u1',
    specHash: 'h1',
  });
});

test('restarting: starting (BackOff) for the first two failures, then failing with CrashLoopBackOff and the last exit', () => {
  const exit = { code: 1, signal: null, at: 0 };
  expect(observeProcess(state({ failures: 2, restartAt: 1, lastExit: exit }))).toMatchObject({
    activity: 'starting',
    reason: 'BackOff',
    identity: undefined,
  });
  expect(observeProcess(state({ failures: 3, restartAt: 1, lastExit: exit, restarts: 2 }))).toMatchObject({
    activity: 'failing',
    reason: 'CrashLoopBackOff',
    message: "the worker keeps exiting; see wa-front's log (last exit: code 1)",
    restarts: 2,
  });
  expect(
    observeProcess(state({ failures: 4, restartAt: 1, lastExit: { code: null, signal: 'SIGKILL', at: 0 } }))
      .message,
  ).toContain('(last exit: SIGKILL)');
});

test('asked to stop: stopping until it has exited, even while it still runs', () => {
  expect(observeProcess(state({ current, stopping: true })).activity).toBe('stopping');
});

describe('a local worker’s environment', () => {
  const config = { natsUrl: 'nats://127.0.0.1:4222', objectsDir: '/state/objects', keyFile: '/state/key' };
  const channel = (worker?: { waWebVersion?: string }, media?: { maxBytes?: number }): WhatsAppChannel => ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name: 'front', namespace: 'clinic-a', uid: 'u1' },
    spec: {
      clinicId: 'clinic-a',
      channelId: 'front',
      ...(worker ? { worker } : {}),
      ...(media ? { media } : {}),
    },
  });

  test('a channel’s media limit reaches its worker and beats a fleet-wide one in --worker-env; unset, none', () => {
    const fleet = { ...config, workerExtraEnv: { WA_MEDIA_MAX_BYTES: '20000000' } };
    expect(localWorkerEnv(channel(undefined, { maxBytes: 5_000_000 }), config).WA_MEDIA_MAX_BYTES).toBe(
      '5000000',
    );
    expect(localWorkerEnv(channel(undefined, { maxBytes: 5_000_000 }), fleet).WA_MEDIA_MAX_BYTES).toBe(
      '5000000',
    );
    expect(localWorkerEnv(channel(), fleet).WA_MEDIA_MAX_BYTES).toBe('20000000');
    expect(localWorkerEnv(channel(), config)).not.toHaveProperty('WA_MEDIA_MAX_BYTES');
  });

  test('the fleet’s WhatsApp Web version reaches every worker; a channel’s own version wins', () => {
    expect(localWorkerEnv(channel(), config).WA_WEB_VERSION).toBeUndefined();
    expect(localWorkerEnv(channel(), { ...config, waWebVersion: '2.3000.1' }).WA_WEB_VERSION).toBe(
      '2.3000.1',
    );
    expect(
      localWorkerEnv(channel({ waWebVersion: '2.3000.7' }), { ...config, waWebVersion: '2.3000.1' })
        .WA_WEB_VERSION,
    ).toBe('2.3000.7');
  });

  test('changing the fleet’s version changes the worker’s environment, so it is replaced', () => {
    const before = JSON.stringify(localWorkerEnv(channel(), { ...config, waWebVersion: '2.3000.1' }));
    const after = JSON.stringify(localWorkerEnv(channel(), { ...config, waWebVersion: '2.3000.2' }));
    expect(after).not.toBe(before);
  });
});
