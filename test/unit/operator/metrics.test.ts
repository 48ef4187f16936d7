import type { WhatsAppChannel } from '../../../contract/index.ts';
import { createOperatorMetrics } from '../../../operator/src/metrics.ts';

/** The per-channel condition gauge and the leader gauge, which the chart's alert rules use. */
const channel = (reason: string): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'reception', namespace: 'clinic-a-ns' },
  spec: { clinicId: 'clinic-a', channelId: 'reception' },
  status: {
    phase: 'Pending',
    conditions: [
      {
        type: 'WorkerRunning',
        status: 'False',
        reason,
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  },
});

const conditionLines = async (metrics: ReturnType<typeof createOperatorMetrics>) =>
  (await metrics.registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith('wa_operator_channel_condition{'));

test('each current condition is one series naming namespace, channel and clinic; a changed reason leaves no stale series', async () => {
  const metrics = createOperatorMetrics();
  let channels = [channel('ContainerCreating')];
  metrics.bind({ channels: () => channels, queueDepth: () => 0, caches: () => ({}) });
  expect(await conditionLines(metrics)).toEqual([
    'wa_operator_channel_condition{namespace="clinic-a-ns",channel="reception",clinic="clinic-a",type="WorkerRunning",status="False",reason="ContainerCreating"} 1',
  ]);
  channels = [channel('CrashLoopBackOff')];
  expect(await conditionLines(metrics)).toEqual([
    'wa_operator_channel_condition{namespace="clinic-a-ns",channel="reception",clinic="clinic-a",type="WorkerRunning",status="False",reason="CrashLoopBackOff"} 1',
  ]);
  channels = [];
  expect(await conditionLines(metrics)).toEqual([]);
});

test('the leader gauge starts at 0 (a standby) and follows what main.ts sets', async () => {
  const metrics = createOperatorMetrics();
  expect(await metrics.registry.metrics()).toMatch(/^wa_operator_leader 0$/m);
  metrics.leader.set(1);
  expect(await metrics.registry.metrics()).toMatch(/^wa_operator_leader 1$/m);
});
