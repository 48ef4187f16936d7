import type { V1Pod } from '@kubernetes/client-node';
import type { StatusEvent, WhatsAppChannel } from '../../../contract/index.ts';
import { observePod } from '../../../operator/src/controller/pod-observation.ts';
import { desiredStatus, statusDiffers, type Observed } from '../../../operator/src/controller/status.ts';

const channel = (
  extra: Partial<WhatsAppChannel['spec']> = {},
  status?: WhatsAppChannel['status'],
): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'c', namespace: 'n', generation: 3 },
  spec: { clinicId: 'a', channelId: 'b', ...extra },
  ...(status ? { status } : {}),
});
const running: V1Pod['status'] = {
  phase: 'Running',
  containerStatuses: [
    { name: 'worker', ready: true, restartCount: 0, image: 'i', imageID: '', state: { running: {} } },
  ],
};
const pod = (
  status: V1Pod['status'] = running,
  extra: Partial<NonNullable<V1Pod['metadata']>> = {},
): V1Pod => ({
  metadata: { name: 'wa-c', uid: 'u1', ...extra },
  status,
});
const waiting = (reason: string, message: string): V1Pod['status'] => ({
  phase: 'Running',
  containerStatuses: [
    {
      name: 'worker',
      ready: false,
      restartCount: 5,
      image: 'i',
      imageID: '',
      state: { waiting: { reason, message } },
      lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
    },
  ],
});
const report = (phase: StatusEvent['phase'], extra: Partial<StatusEvent> = {}): StatusEvent => ({
  v: 1,
  clinicId: 'a',
  channelId: 'b',
  worker: 'wa-c_u1',
  phase,
  reconnects: 2,
  degraded: false,
  at: '2026-01-01T00:00:00.000Z',
  seq: 1,
  ...extra,
});
/** The status of a channel whose worker is a pod: the pod goes through the pod observation. */
type Inputs = Omit<Partial<Observed>, 'worker' | 'startError'> & {
  pod?: V1Pod | undefined;
  podCreateError?: string;
};
function status(inputs: Inputs) {
  const { pod: given, podCreateError, ...o } = inputs;
  const p = 'pod' in inputs ? given : pod();
  return desiredStatus({
    channel: channel(),
    worker: p ? observePod(p) : undefined,
    report: undefined,
    startError: podCreateError,
    now: 'T',
    ...o,
  });
}
const cond = (s: ReturnType<typeof desiredStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;
const summary = (s: ReturnType<typeof desiredStatus>) =>
  Object.fromEntries(s.conditions!.map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('channel status', () => {
  test('connected: Ready, Paired and WorkerRunning true; settled for kstatus; every condition has the generation', () => {
    const s = status({ report: report('Connected', { account: 'x@s.whatsapp.net', lastConnectedAt: 'L' }) });
    expect(s).toMatchObject({
      phase: 'Connected',
      observedGeneration: 3,
      account: 'x@s.whatsapp.net',
      workerPod: 'wa-c',
      reconnectCount: 2,
      lastConnectedTime: 'L',
    });
    expect(summary(s)).toEqual({
      Ready: 'True/Connected',
      Paired: 'True/Linked',
      WorkerRunning: 'True/PodRunning',
      Reconciling: 'False/Settled',
      Stalled: 'False/NotStalled',
    });
    expect(s.conditions!.every((c) => c.observedGeneration === 3 && c.message)).toBe(true);
  });

  test('degraded dependencies keep Ready true but say so', () => {
    const s = status({ report: report('Connected', { degraded: true }) });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', message: expect.stringContaining('degraded') });
  });

  test('waiting for a QR scan: not Ready, not Paired, but neither Reconciling nor Stalled (the apply succeeded)', () => {
    const s = status({ report: report('QRRequired') });
    expect(summary(s)).toMatchObject({
      Ready: 'False/QRRequired',
      Paired: 'False/AwaitingQRScan',
      Reconciling: 'False/Settled',
      Stalled: 'False/NotStalled',
    });
    expect(cond(status({ report: report('Pairing') }), 'Paired').reason).toBe('AwaitingPairingCode');
  });

  test('connecting after a restart: still Paired (account known), Reconciling', () => {
    const s = status({ channel: channel({}, { account: 'x@s.whatsapp.net' }), report: report('Connecting') });
    expect(summary(s)).toMatchObject({
      Ready: 'False/Connecting',
      Paired: 'True/Linked',
      Reconciling: 'True/Connecting',
    });
  });

  test('logged out: Error, Stalled and not Paired, with the worker reason', () => {
    const s = status({
      channel: channel({}, { account: 'x@s.whatsapp.net' }),
      report: report('Error', { reason: 'LoggedOut', message: 'logged out from the phone' }),
    });
    expect(s.phase).toBe('Error');
    expect(summary(s)).toMatchObject({
      Ready: 'False/LoggedOut',
      Paired: 'False/LoggedOut',
      Stalled: 'True/LoggedOut',
    });
    expect(s.message).toBe('logged out from the phone');
  });

  test('the WhatsApp Web version is the one the current worker reports, never a replaced pod’s', () => {
    expect(status({ report: report('Connected', { waWebVersion: '2.3000.2022' }) }).waWebVersion).toBe(
      '2.3000.2022',
    );
    // A new pod whose worker has not reported yet: the old version is not carried over.
    const replaced = status({ channel: channel({}, { waWebVersion: '2.3000.1011' }), report: undefined });
    expect(replaced.waWebVersion).toBeUndefined();
    expect(status({ report: report('Connected') }).waWebVersion).toBeUndefined();
  });

  test('a refused client version: Error and Stalled with the worker’s explanation', () => {
    const message = 'WhatsApp refused the client version 2.3000.1011 … worker.waWebVersion …';
    const s = status({
      channel: channel({}, { account: 'x@s.whatsapp.net' }),
      report: report('Error', { reason: 'ClientVersionRejected', message, waWebVersion: '2.3000.1011' }),
    });
    expect(s).toMatchObject({ phase: 'Error', message, waWebVersion: '2.3000.1011' });
    expect(summary(s)).toMatchObject({
      Ready: 'False/ClientVersionRejected',
      Paired: 'True/Linked',
      Stalled: 'True/ClientVersionRejected',
    });
    expect(cond(s, 'Stalled').message).toBe(message);
  });

  test.each([
    ['CrashLoopBackOff', 'back-off 5m restarting failed container'],
    ['ImagePullBackOff', 'Back-off pulling image "w:1"'],
    ['CreateContainerConfigError', 'secret "wa-nats-a" not found'],
  ])(
    'a pod in %s: WorkerRunning false, Error, Stalled, with the kubelet message and last exit',
    (reason, message) => {
      const s = status({ pod: pod(waiting(reason, message)), report: report('Connected') });
      expect(s.phase).toBe('Error');
      expect(summary(s)).toMatchObject({
        Ready: `False/${reason}`,
        WorkerRunning: `False/${reason}`,
        Stalled: `True/${reason}`,
      });
      expect(cond(s, 'WorkerRunning').message).toBe(`${message} (last exit: OOMKilled)`);
    },
  );

  test('an unschedulable pod shows with the scheduler reason', () => {
    const s = status({
      pod: pod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes: insufficient memory',
          },
        ],
      }),
    });
    expect(cond(s, 'WorkerRunning')).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes: insufficient memory',
    });
    expect(cond(s, 'Stalled').status).toBe('True');
  });

  test('a pod that cannot be created (quota, PodSecurity) shows the API server message', () => {
    const s = status({ pod: undefined, podCreateError: 'exceeded quota: pods=10' });
    expect(summary(s)).toMatchObject({
      WorkerRunning: 'False/PodCreateFailed',
      Stalled: 'True/PodCreateFailed',
    });
    expect(cond(s, 'WorkerRunning').message).toContain('exceeded quota: pods=10');
  });

  test('pod lifecycle without reports: missing, pending, starting container, terminating, evicted', () => {
    expect(cond(status({ pod: undefined }), 'WorkerRunning').reason).toBe('PodMissing');
    expect(cond(status({ pod: pod({ phase: 'Pending' }) }), 'WorkerRunning').reason).toBe('PodPending');
    const creating = status({ pod: pod(waiting('ContainerCreating', '')) });
    expect(summary(creating)).toMatchObject({
      WorkerRunning: 'False/ContainerCreating',
      Stalled: 'False/NotStalled',
    });
    const terminating = status({
      pod: pod(running, { deletionTimestamp: new Date() }),
      report: report('Connected'),
    });
    expect(summary(terminating)).toMatchObject({
      Ready: 'False/PodTerminating',
      WorkerRunning: 'False/PodTerminating',
    });
    expect(terminating.phase).toBe('Pending');
    const evicted = status({ pod: pod({ phase: 'Failed', reason: 'Evicted' }) });
    expect(cond(evicted, 'WorkerRunning')).toMatchObject({
      reason: 'PodFailed',
      message: expect.stringContaining('Evicted'),
    });
    for (const s of [creating, terminating, evicted]) expect(cond(s, 'Reconciling').status).toBe('True');
  });

  test('a report proves the worker runs even before the kubelet says so', () => {
    const s = status({ pod: pod({ phase: 'Pending' }), report: report('Connecting') });
    expect(summary(s)).toMatchObject({ WorkerRunning: 'True/PodRunning' });
    expect(s.phase).toBe('Connecting');
  });

  test('suspended: phase Suspended, no pod, nothing running, settled', () => {
    const s = status({ channel: channel({ suspend: true }), pod: undefined });
    expect(s.phase).toBe('Suspended');
    expect(s.workerPod).toBeUndefined();
    expect(summary(s)).toMatchObject({
      WorkerRunning: 'False/Suspended',
      Ready: 'False/Suspended',
      Reconciling: 'False/Settled',
    });
  });

  test('a failing deletion step shows in Ready, Reconciling and Stalled', () => {
    const s = status({ deletion: { reason: 'EraseFailed', message: 'deleting: S3 is down', failing: true } });
    expect(summary(s)).toMatchObject({
      Ready: 'False/EraseFailed',
      Reconciling: 'True/Deleting',
      Stalled: 'True/EraseFailed',
    });
    expect(s.message).toBe('deleting: S3 is down');
  });

  test('an unchanged world gives an identical status (no write), keeping transition times', () => {
    const first = status({ report: report('Connected'), now: 'T1' });
    const second = status({ channel: channel({}, first), report: report('Connected'), now: 'T2' });
    expect(statusDiffers(first, second)).toBe(false);
    const changed = status({ channel: channel({}, first), report: report('Disconnected'), now: 'T3' });
    expect(statusDiffers(first, changed)).toBe(true);
    expect(cond(changed, 'Ready').lastTransitionTime).toBe('T3');
    expect(cond(changed, 'WorkerRunning').lastTransitionTime).toBe('T1');
    // Key order does not matter (the API server may return fields in another order).
    const reordered = JSON.parse(JSON.stringify(first, Object.keys(first).sort().reverse()));
    reordered.conditions = first.conditions;
    expect(statusDiffers(reordered, second)).toBe(false);
  });
});

test('an ended pod is ended, whatever its containers last said: it is replaced, and the status says so', () => {
  // An eviction keeps the container statuses of before (here a crash loop).
  const evicted = pod({ ...waiting('CrashLoopBackOff', 'back-off'), phase: 'Failed', reason: 'Evicted' });
  expect(observePod(evicted)).toMatchObject({ activity: 'ended', reason: 'Evicted' });
  expect(cond(status({ pod: evicted }), 'WorkerRunning')).toMatchObject({
    reason: 'PodFailed',
    message: 'pod wa-c ended (Evicted); it is being replaced',
  });
});

test('TestEndpoint: every channel shows the simulator endpoint while the operator uses one, and only then', () => {
  const simulated = status({ report: report('Connected'), testEndpoint: 'ws://sim:9000/ws/chat' });
  expect(cond(simulated, 'TestEndpoint')).toMatchObject({
    status: 'True',
    reason: 'ProtocolSimulator',
    message: expect.stringContaining('the WhatsApp protocol simulator at ws://sim:9000/ws/chat'),
  });
  // Shown whatever the channel's state: a suspended channel too.
  const suspended = desiredStatus({
    channel: channel({ suspend: true }),
    worker: undefined,
    report: undefined,
    testEndpoint: 'ws://sim:9000/ws/chat',
    now: 'T',
  });
  expect(cond(suspended, 'TestEndpoint').status).toBe('True');
  expect(status({ report: report('Connected') }).conditions!.map((c) => c.type)).not.toContain(
    'TestEndpoint',
  );
});

test("RateLimited follows the worker's pacing report, and is absent for a worker that reports none", () => {
  const throttled = status({
    report: report('Connected', { pacing: { throttled: true, ratePerMinute: 10 } }),
  });
  expect(cond(throttled, 'RateLimited')).toMatchObject({
    status: 'True',
    reason: 'WhatsAppRateLimit',
    message: expect.stringContaining('at most 10 messages a minute'),
  });
  // Ready is not touched: a slowed-down channel still works.
  expect(cond(throttled, 'Ready').status).toBe('True');
  const calm = status({ report: report('Connected', { pacing: { throttled: false, ratePerMinute: 20 } }) });
  expect(cond(calm, 'RateLimited')).toMatchObject({ status: 'False', reason: 'WithinPolicy' });
  expect(status({ report: report('Connected') }).conditions!.map((c) => c.type)).not.toContain('RateLimited');
});

test('a blocked channel (its image is not allowed): no worker, Ready and Stalled name the reason', () => {
  const s = status({ pod: undefined, blocked: { reason: 'ImageNotAllowed', message: 'use ours' } });
  expect(summary(s)).toMatchObject({
    Ready: 'False/ImageNotAllowed',
    WorkerRunning: 'False/ImageNotAllowed',
    Stalled: 'True/ImageNotAllowed',
  });
  expect(s.phase).toBe('Error');
  expect(s.message).toBe('use ours');
});
