import pino from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { ChannelsByIdentity } from '../../../operator/src/controller/channels-by-identity.ts';
import { KubeChannelStore, showsWrite } from '../../../operator/src/controller/kube-channel-store.ts';
import { PROGRESS_ANNOTATIONS, progressOf } from '../../../operator/src/controller/progress.ts';
import type { KubeClient } from '../../../operator/src/kube/client.ts';
import type { ResourceCache } from '../../../operator/src/kube/resource-cache.ts';

/**
 * Read-your-writes of the cluster's channel store: after a write, the watch cache may still show
 * versions from before it. Only pure logic here (the cache and the API client are stand-ins that
 * hand back the versions a real API server would); the real ones are exercised against the API
 * server in test/integration/operator.
 */
const channelAt = (rv: string, annotations: Record<string, string> = {}): WhatsAppChannel =>
  ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: {
      name: 'front',
      namespace: 'n',
      uid: 'u1',
      resourceVersion: rv,
      deletionTimestamp: '2026-01-01T00:00:00Z',
      annotations,
    },
    spec: { clinicId: 'a', channelId: 'front', deletionPolicy: 'Logout' },
  }) as unknown as WhatsAppChannel;

function storeOver(cached: { current: WhatsAppChannel | undefined }, writtenRv: string) {
  const kube = {
    setAnnotations: async (c: WhatsAppChannel, annotations: Record<string, string>) => ({
      ...c,
      metadata: { ...c.metadata, resourceVersion: writtenRv, annotations },
    }),
  } as unknown as KubeClient;
  const channels = { get: () => cached.current } as unknown as ResourceCache<WhatsAppChannel>;
  return new KubeChannelStore({
    kube,
    channels,
    byIdentity: new ChannelsByIdentity(),
    logger: pino({ level: 'silent' }),
  });
}

test('a recorded logout is trusted only once the cache shows it: a write that landed before it (rv 11) does not count', async () => {
  // The reconcile read rv 10; a status written just before the deletion is rv 11 on the server;
  // the logout annotation is rv 12. The watch delivers 11 first.
  const cached = { current: channelAt('10') as WhatsAppChannel | undefined };
  const store = storeOver(cached, '12');
  await store.annotate(cached.current!, { [PROGRESS_ANNOTATIONS.logout]: 'done' });

  cached.current = channelAt('11');
  expect(progressOf(cached.current).logout).toBeUndefined(); // trusted, this would log out again
  expect(store.staleFor('n/front', cached.current)).toBeGreaterThan(0);

  cached.current = channelAt('12', { [PROGRESS_ANNOTATIONS.logout]: 'done' });
  expect(store.staleFor('n/front', cached.current)).toBe(0);
});

test('a later version than the write counts as showing it; a channel gone from the cache too', async () => {
  const cached = { current: channelAt('10') as WhatsAppChannel | undefined };
  const store = storeOver(cached, '12');
  await store.annotate(cached.current!, { [PROGRESS_ANNOTATIONS.erase]: 'done' });
  cached.current = channelAt('13', { [PROGRESS_ANNOTATIONS.erase]: 'done' });
  expect(store.staleFor('n/front', cached.current)).toBe(0);

  const gone = storeOver(cached, '14');
  await gone.annotate(cached.current, { [PROGRESS_ANNOTATIONS.erase]: 'done' });
  expect(gone.staleFor('n/front', cached.current)).toBeGreaterThan(0);
  expect(gone.staleFor('n/front', undefined)).toBe(0); // the finalizer went and the channel with it
});

test('showsWrite: the written version or a later one; not the one read, nor one between', () => {
  expect(showsWrite('12', '10', '12')).toBe(true);
  expect(showsWrite('100', '10', '12')).toBe(true); // decimal, not string order
  expect(showsWrite('11', '10', '12')).toBe(false);
  expect(showsWrite('10', '10', '12')).toBe(false);
  // Not decimal (no API server does this today): changed since our read is all that can be said.
  expect(showsWrite('b', 'a', 'c')).toBe(true);
  expect(showsWrite('a', 'a', 'c')).toBe(false);
});
