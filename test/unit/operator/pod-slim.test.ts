import type { V1Pod } from '@kubernetes/client-node';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { observePod, slimPod } from '../../../operator/src/controller/pod-observation.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';

/**
 * The pod cache keeps pods slimmed (slimPod): every observation the reconciler makes of a pod
 * must be the same from the slimmed pod as from the whole one.
 */
const parsed = parseOperatorConfig({
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'img:1',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
});
if (!parsed.ok) throw new Error(parsed.errors.join('; '));
const channel: WhatsAppChannel = {
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front', namespace: 'n', uid: 'u1', generation: 3 },
  spec: { clinicId: 'a', channelId: 'front' },
};
const created = (): V1Pod => {
  const pod = buildWorkerPod(channel, parsed.config);
  pod.metadata = {
    ...pod.metadata,
    uid: 'p1',
    resourceVersion: '17',
    annotations: { ...pod.metadata!.annotations, 'someone.else/note': 'x' },
    managedFields: [{ manager: 'whatsapp-operator', operation: 'Update' }],
  };
  return pod;
};
const container = (state: object, extra: object = {}) => ({
  name: 'worker',
  image: 'w:1',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
  ...extra,
});
const shapes: Record<string, (p: V1Pod) => V1Pod> = {
  'just created': (p) => p,
  starting: (p) => ({
    ...p,
    status: {
      phase: 'Pending',
      containerStatuses: [container({ waiting: { reason: 'ContainerCreating' } })],
    },
  }),
  running: (p) => ({
    ...p,
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: [container({ running: {} }, { ready: true, restartCount: 2 })],
    },
  }),
  'crash loop': (p) => ({
    ...p,
    status: {
      phase: 'Running',
      containerStatuses: [
        container(
          { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m' } },
          { restartCount: 7, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } },
        ),
      ],
    },
  }),
  unschedulable: (p) => ({
    ...p,
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes' }],
    },
  }),
  evicted: (p) => ({ ...p, status: { phase: 'Failed', reason: 'Evicted' } }),
  terminating: (p) => ({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date(0) } }),
};

test.each(Object.keys(shapes))('a %s pod is observed the same, slimmed', (shape) => {
  const pod = shapes[shape]!(created());
  const whole = observePod(structuredClone(pod));
  expect(observePod(slimPod(structuredClone(pod)))).toEqual(whole);
});

test('the slimmed pod keeps what the runtime needs and drops the spec and foreign annotations', () => {
  const slim = slimPod(created());
  expect(slim.spec).toBeUndefined();
  expect(slim.metadata).toMatchObject({ name: 'wa-front', namespace: 'n', uid: 'p1', resourceVersion: '17' });
  expect(slim.metadata!.ownerReferences).toEqual([expect.objectContaining({ uid: 'u1', controller: true })]);
  expect(Object.keys(slim.metadata!.annotations!)).not.toContain('someone.else/note');
  expect(slim.metadata!.managedFields).toBeUndefined();
  expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(created()).length / 3);
});
