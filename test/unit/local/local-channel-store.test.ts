import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINALIZER, type WhatsAppChannel } from '../../../contract/index.ts';
import { PROGRESS_ANNOTATIONS } from '../../../operator/src/controller/progress.ts';
import {
  LocalChannelStore,
  type ChannelView,
  type LocalOperatorEvent,
} from '../../../operator/src/local/local-channel-store.ts';
import type { DesiredChannels } from '../../../operator/src/local/manifest-folder.ts';

/** Local mode's stand-in for the API server: what it keeps per channel, and deletion by a missing manifest. */
const manifest = (name: string, spec: Partial<WhatsAppChannel['spec']> = {}): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name, namespace: 'local' },
  spec: { clinicId: 'a', channelId: name, ...spec },
});
const desired = (...channels: WhatsAppChannel[]): DesiredChannels => ({
  channels: new Map(channels.map((c) => [`local/${c.metadata.name}`, c])),
  problems: [],
});

let dir: string;
let events: LocalOperatorEvent[];
let changed: string[];
let opened: LocalChannelStore[] = [];
const open = () => {
  const store = new LocalChannelStore({
    statusFile: join(dir, 'status.json'),
    emit: (e) => events.push(e),
    changed: (k) => changed.push(k),
    workerOf: () => ({ worker: undefined, restarts: 0 }),
  });
  opened.push(store);
  return store;
};
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-store-'));
  events = [];
  changed = [];
});
afterEach(async () => {
  // status.json is written in the background: wait for it before the folder goes.
  await Promise.all(opened.map((s) => s.flush()));
  opened = [];
  await rm(dir, { recursive: true, force: true });
});

test('a manifest becomes a channel with a uid and generation 1; a spec change bumps the generation, not the uid', () => {
  const store = open();
  store.apply(desired(manifest('front')));
  const first = store.get('local/front')!;
  expect(first.metadata).toMatchObject({ generation: 1, finalizers: [] });
  expect(first.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
  expect(changed).toEqual(['local/front']);
  store.apply(desired(manifest('front')));
  expect(store.get('local/front')!.metadata.generation).toBe(1);
  store.apply(desired(manifest('front', { suspend: true })));
  expect(store.get('local/front')!.metadata).toMatchObject({ generation: 2, uid: first.metadata.uid });
});

test('clinicId and channelId cannot change: reported once, and the channel stays as it was', () => {
  const store = open();
  store.apply(desired(manifest('front')));
  store.apply(desired(manifest('front', { clinicId: 'b' })));
  store.apply(desired(manifest('front', { clinicId: 'b' })));
  const problems = events.filter((e) => e.type === 'problem');
  expect(problems).toHaveLength(1);
  expect(JSON.stringify(problems[0])).toContain('cannot change');
  expect(store.get('local/front')!.spec.clinicId).toBe('a');
});

test('a missing manifest is a deletion request while the finalizer is on; releasing it removes the channel', async () => {
  const store = open();
  store.apply(desired(manifest('front')));
  const c = store.get('local/front')!;
  await store.setFinalizers(c, [FINALIZER]);
  store.apply(desired());
  const deleting = store.get('local/front')!;
  expect(deleting.metadata.deletionTimestamp).toBeDefined();
  // A manifest for it meanwhile waits for the deletion to finish.
  store.apply(desired(manifest('front', { deletionPolicy: 'Logout' })));
  expect(store.get('local/front')!.metadata.deletionTimestamp).toBeDefined();
  await store.setFinalizers(deleting, []);
  expect(events).toContainEqual({ type: 'removed', key: 'local/front' });
  const next = store.get('local/front')!;
  expect(next.metadata.uid).not.toBe(c.metadata.uid);
  expect(next.metadata.deletionTimestamp).toBeUndefined();
  expect(next.spec.deletionPolicy).toBe('Logout');
});

test('without the finalizer (never reconciled) a missing manifest removes the channel at once', () => {
  const store = open();
  store.apply(desired(manifest('front')));
  store.apply(desired());
  expect(store.get('local/front')).toBeUndefined();
  expect(events).toContainEqual({ type: 'removed', key: 'local/front' });
});

test('writes for an earlier channel of the same name (another uid) are dropped', async () => {
  const store = open();
  store.apply(desired(manifest('front')));
  const c = store.get('local/front')!;
  await store.annotate({ ...c, metadata: { ...c.metadata, uid: 'earlier' } }, { k: 'v' });
  await store.applyStatus({ ...c, metadata: { ...c.metadata, uid: 'earlier' } }, { phase: 'Error' });
  expect(store.get('local/front')!.metadata.annotations).toBeUndefined();
  expect(store.get('local/front')!.status).toBeUndefined();
});

test('status writes print phase changes and do not ask for another reconcile', async () => {
  const store = open();
  store.apply(desired(manifest('front')));
  changed = [];
  const c = store.get('local/front')!;
  await store.applyStatus(c, { phase: 'Pending', message: 'a' });
  await store.applyStatus(store.get('local/front')!, { phase: 'Pending', message: 'b' });
  await store.applyStatus(store.get('local/front')!, { phase: 'Connected' });
  expect(events.filter((e) => e.type === 'phase').map((e) => e.type === 'phase' && e.status.phase)).toEqual([
    'Pending',
    'Connected',
  ]);
  expect(changed).toEqual([]);
});

test('status.json keeps uid, finalizer, progress, the deletion request and the status; a new store carries on from it', async () => {
  const store = open();
  store.apply(desired(manifest('front', { deletionPolicy: 'Logout' })));
  const c = store.get('local/front')!;
  await store.setFinalizers(c, [FINALIZER]);
  store.apply(desired());
  await store.annotate(store.get('local/front')!, { [PROGRESS_ANNOTATIONS.logout]: 'done' });
  await store.applyStatus(store.get('local/front')!, { phase: 'Pending' });
  await store.flush();
  const saved = JSON.parse(await readFile(join(dir, 'status.json'), 'utf8')) as ChannelView[];
  expect(saved).toHaveLength(1);
  expect(saved[0]).toMatchObject({ key: 'local/front', clinicId: 'a', status: { phase: 'Pending' } });

  const again = open();
  await again.restore();
  again.apply(desired());
  expect(again.get('local/front')!.metadata).toMatchObject({
    uid: c.metadata.uid,
    finalizers: [FINALIZER],
    annotations: { [PROGRESS_ANNOTATIONS.logout]: 'done' },
    deletionTimestamp: store.get('local/front')!.metadata.deletionTimestamp,
  });
  expect(again.get('local/front')!.status).toEqual({ phase: 'Pending' });
});

test('the claims of one identity (the duplicate rule): listed, ordered by a kept creation time, and a change to one reconciles the others', async () => {
  const store = open();
  store.apply(desired(manifest('front', { channelId: 'desk' })));
  const owner = store.get('local/front')!;
  expect(owner.metadata.creationTimestamp).toBeDefined();
  changed.length = 0;
  store.apply(desired(manifest('front', { channelId: 'desk' }), manifest('copy', { channelId: 'desk' })));
  expect(
    store
      .claimsOf('a', 'desk')
      .map((c) => c.metadata.name)
      .sort(),
  ).toEqual(['copy', 'front']);
  expect(store.claimsOf('a', 'other')).toEqual([]);
  // The new claim reconciles the owner too (who owns the identity may have changed).
  expect([...new Set(changed)].sort()).toEqual(['local/copy', 'local/front']);
  // The creation time survives a restart (status.json): the owner stays the owner.
  await store.flush();
  const again = open();
  await again.restore();
  expect(again.get('local/front')!.metadata.creationTimestamp).toBe(owner.metadata.creationTimestamp);
  // The owner's manifest gone and its finalizer released: the copy is reconciled (it takes over).
  await store.setFinalizers(store.get('local/front')!, [FINALIZER]);
  store.apply(desired(manifest('copy', { channelId: 'desk' })));
  changed.length = 0;
  await store.setFinalizers(store.get('local/front')!, []);
  expect(store.get('local/front')).toBeUndefined();
  expect(changed).toContain('local/copy');
});
