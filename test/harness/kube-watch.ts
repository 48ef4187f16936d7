/**
 * Every change of a collection, for tests that must see each event (never two pods at once,
 * every condition a deletion went through). It is the operator's own list+watch cache, so a
 * watch the API server (or a silence limit) ends is resumed from the last resourceVersion and
 * no event is missed, however long the test waits; a one-shot watch ended after 30 s and then
 * missed what came later. The cache it returns also holds the collection as it is now.
 */
import { loadKubeConnection } from '../../operator/src/kube/connection.ts';
import { KubeHttp } from '../../operator/src/kube/http.ts';
import { ResourceCache } from '../../operator/src/kube/resource-cache.ts';

interface Listed<T> {
  items: T[];
  metadata: { resourceVersion: string };
}

export async function watchCollection<T extends { metadata?: { name?: string; namespace?: string } }>(
  kubeconfig: string,
  path: string,
  onChange: (obj: T, deleted: boolean) => void = () => undefined,
  labelSelector?: string,
): Promise<ResourceCache<T>> {
  const http = new KubeHttp(await loadKubeConnection({ kubeconfig }));
  const cache = new ResourceCache<T>({
    http,
    path,
    labelSelector,
    list: async () => {
      const l = await http.request<Listed<T>>('GET', path, { query: { labelSelector } });
      return { items: l.items, resourceVersion: l.metadata.resourceVersion };
    },
    onChange,
  });
  await cache.start();
  return cache;
}
