import type { V1Pod } from '@kubernetes/client-node';
import type { StatusEvent, WhatsAppChannel } from '../../../contract/index.ts';
import { desiredStatus, statusDiffers } from '../../../operator/src/status.ts';

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
const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'wa-c' }, status });
const report = (phase: StatusEvent['phase'], extra: Partial<StatusEvent> = {}): StatusEvent => ({
  v: 1,
  clinicId: 'a',
  channelId: 'b',
  worker: 'wa-c',
  phase,
  reconnects: 2,
  degraded: false,
  at: 't',
  seq: 1,
  ...extra,
});
const cond = (s: ReturnType<typeof desiredStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;

describe('channel status', () => {
  test('connected: Ready, Paired and WorkerRunning true, settled for kstatus', () => {
    const s = desiredStatus({
      channel: channel(),
      pod: pod({ phase: 'Running' }),
      report: report('Connected', { account: 'x@s.whatsapp.net' }),
      now: 'T',
    });
    expect(s).toMatchObject({
      phase: 'Connected',
      observedGeneration: 3,
      account: 'x@s.whatsapp.net',
      workerPod: 'wa-c',
      reconnectCount: 2,
    });
    expect([cond(s, 'Ready').status, cond(s, 'Paired').status, cond(s, 'WorkerRunning').status]).toEqual([
      'True',
      'True',
      'True',
    ]);
    expect([cond(s, 'Reconciling').status, cond(s, 'Stalled').status]).toEqual(['False', 'False']);
    expect(s.conditions!.every((c) => c.observedGeneration === 3)).toBe(true);
  });

  test('a crash-looping pod shows in WorkerRunning and Stalled with the reason', () => {
    const crash = pod({
      phase: 'Running',
      containerStatuses: [
        {
          name: 'worker',
          ready: false,
          restartCount: 5,
          image: 'i',
          imageID: '',
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m' } },
        },
      ],
    });
    const s = desiredStatus({ channel: channel(), pod: crash, report: undefined, now: 'T' });
    expect(cond(s, 'WorkerRunning')).toMatchObject({
      status: 'False',
      reason: 'CrashLoopBackOff',
      message: 'back-off 5m',
    });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'CrashLoopBackOff' });
  });

  test('an unschedulable pod shows with the scheduler reason', () => {
    const s = desiredStatus({
      channel: channel(),
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
      report: undefined,
      now: 'T',
    });
    expect(cond(s, 'WorkerRunning')).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes: insufficient memory',
    });
  });

  test('suspended: phase Suspended, no pod, nothing running', () => {
    const s = desiredStatus({
      channel: channel({ suspend: true }),
      pod: undefined,
      report: undefined,
      now: 'T',
    });
    expect(s.phase).toBe('Suspended');
    expect(s.workerPod).toBeUndefined();
    expect(cond(s, 'WorkerRunning')).toMatchObject({ status: 'False', reason: 'Suspended' });
  });

  test('logged out: Error, Stalled, with the worker reason', () => {
    const s = desiredStatus({
      channel: channel(),
      pod: pod({ phase: 'Running' }),
      report: report('Error', { reason: 'LoggedOut', message: 'logged out from the phone' }),
      now: 'T',
    });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'LoggedOut' });
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'LoggedOut' });
  });

  test('an unchanged world gives an identical status (no write), keeping transition times', () => {
    const first = desiredStatus({
      channel: channel(),
      pod: pod({ phase: 'Running' }),
      report: report('Connected'),
      now: 'T1',
    });
    const second = desiredStatus({
      channel: channel({}, first),
      pod: pod({ phase: 'Running' }),
      report: report('Connected'),
      now: 'T2',
    });
    expect(statusDiffers(first, second)).toBe(false);
    const changed = desiredStatus({
      channel: channel({}, first),
      pod: pod({ phase: 'Running' }),
      report: report('Disconnected'),
      now: 'T3',
    });
    expect(statusDiffers(first, changed)).toBe(true);
    expect(cond(changed, 'Ready').lastTransitionTime).toBe('T3');
    expect(cond(changed, 'WorkerRunning').lastTransitionTime).toBe('T1');
  });
});
