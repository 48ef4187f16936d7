import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import {
  keyOf,
  ResourceCache,
  type ListResult,
  type ResourceCacheOptions,
} from '../../../operator/src/kube/resource-cache.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { KubeHttp } from '../../../operator/src/kube/http.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';

/**
 * The list/watch cache against the real kube-apiserver, behind a TCP proxy that cuts and
 * freezes its connections: it must never stop, never lose an event, and list again only
 * when the server says the version is gone (410).
 */
const stack = testStack();
const ns = `cache-${Date.now().toString(36)}`;
const direct = new KubeConfig();
direct.loadFromFile(stack.kube.kubeconfig);
const api = direct.makeApiClient(CoreV1Api);
let proxy: TcpProxy;
let proxied: KubeConfig;
let proxiedHttp: KubeHttp;
const caches: ResourceCache<V1ConfigMap>[] = [];

beforeAll(async () => {
  await api.createNamespace({ body: { metadata: { name: ns } } });
  proxy = await TcpProxy.start(stack.kube.server);
  proxied = new KubeConfig();
  proxied.loadFromFile(stack.kube.kubeconfig);
  const cluster = proxied.getCurrentCluster()!;
  proxied.clusters = [{ ...cluster, server: `https://127.0.0.1:${proxy.port}` }];
  proxiedHttp = new KubeHttp(
    await loadKubeConnection({
      kubeconfig: stack.kube.kubeconfig,
      server: `https://127.0.0.1:${proxy.port}`,
    }),
  );
});
afterAll(async () => {
  for (const c of caches) c.stop();
  await proxy.stop();
});

const listVia = (kc: KubeConfig) => async (): Promise<ListResult<V1ConfigMap>> => {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: ns });
  return { items: list.items, resourceVersion: list.metadata!.resourceVersion! };
};
async function cache(options: Partial<ResourceCacheOptions<V1ConfigMap>> = {}) {
  const events: string[] = [];
  const c = new ResourceCache<V1ConfigMap>({
    http: proxiedHttp,
    path: `/api/v1/namespaces/${ns}/configmaps`,
    list: listVia(proxied),
    onChange: (cm, deleted) => events.push(`${deleted ? 'deleted' : 'changed'} ${cm.metadata!.name}`),
    ...options,
  });
  caches.push(c);
  await c.start();
  return { c, events };
}
const put = (name: string) =>
  api.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { a: '1' } } });
const has = (c: ResourceCache<V1ConfigMap>, name: string) => () =>
  Promise.resolve(c.get(`${ns}/${name}`) !== undefined);

test('cut connections: the watch resumes from its last version; nothing lost, no second list', async () => {
  const { c } = await cache();
  await put('cut-1');
  await eventually('cut-1', has(c, 'cut-1'), 10_000);
  proxy.cut();
  await put('cut-2'); // while the watch is down
  await eventually('cut-2 after the cut', has(c, 'cut-2'), 15_000);
  expect(c.stats.lists).toBe(1);
  expect(c.stats.watches).toBeGreaterThanOrEqual(2);
  expect(c.stats.errors).toBeGreaterThanOrEqual(1);
  c.stop();
});

test('a silent (half-open) watch is detected and replaced; the change it swallowed arrives', async () => {
  const { c } = await cache({ silenceMs: 1_500 });
  await put('silent-0'); // proves the watch connection is open
  await eventually('silent-0', has(c, 'silent-0'), 10_000);
  proxy.freeze(); // every open connection now swallows what it carries
  await put('silent-1');
  await eventually('silent-1 through a new watch', has(c, 'silent-1'), 15_000);
  expect(c.stats.silentWatches).toBeGreaterThanOrEqual(1);
  expect(c.stats.lists).toBe(1);
  c.stop();
});

test('the server ending watches (timeoutSeconds) only resumes them', async () => {
  const { c, events } = await cache({ watchTimeoutSeconds: [1, 1] });
  await new Promise((r) => setTimeout(r, 2_500));
  await put('resumed-1');
  await eventually('resumed-1', has(c, 'resumed-1'), 10_000);
  expect(c.stats.watches).toBeGreaterThanOrEqual(3);
  expect(c.stats.lists).toBe(1);
  expect(events.filter((e) => e === 'changed resumed-1')).toHaveLength(1);
  c.stop();
});

test('410 Gone: it lists again, and reports what changed meanwhile, deletions included', async () => {
  let lists = 0;
  const realList = listVia(proxied);
  const { c, events } = await cache({
    // The first list claims an ancient version and an object that no longer exists.
    list: async () => {
      const real = await realList();
      if (lists++ > 0) return real;
      const ghost: V1ConfigMap = { metadata: { name: 'ghost', namespace: ns, resourceVersion: '1' } };
      return { items: [...real.items, ghost], resourceVersion: '1' };
    },
  });
  await eventually('a relist after 410', async () => c.stats.expired >= 1 && c.stats.lists >= 2, 15_000);
  await eventually('the ghost reported deleted', async () => events.includes('deleted ghost'), 5_000);
  expect(c.get(`${ns}/ghost`)).toBeUndefined();
  // Objects listed both times with the same version are not reported twice.
  expect(events.filter((e) => e === 'changed cut-1')).toHaveLength(1);
  await put('after-410');
  await eventually('after-410', has(c, 'after-410'), 10_000);
  expect(keyOf(c.get(`${ns}/after-410`)!)).toBe(`${ns}/after-410`);
  c.stop();
});

test('failing watches back off, doubling from 0.5 s, and never give up', async () => {
  const failures: number[] = [];
  const { c } = await cache({
    onProblem: (what) => {
      if (what.includes('failed')) failures.push(Date.now());
    },
  });
  await put('backoff-0');
  await eventually('backoff-0', has(c, 'backoff-0'), 10_000);
  proxy.down(); // open connections reset, new ones refused
  await eventually(
    'four failed attempts while the API server is away',
    async () => failures.length >= 4,
    20_000,
  );
  proxy.up();
  await put('backoff-1');
  await eventually('backoff-1 once the API server is back', has(c, 'backoff-1'), 30_000);
  // A timer never fires early, so each wait is at least its back-off (0.5 s, 1 s, 2 s…), however
  // loaded the machine; a retry without back-off would come within milliseconds.
  const waits = failures.slice(1, 4).map((at, i) => at - failures[i]!);
  waits.forEach((wait, i) => expect(wait).toBeGreaterThanOrEqual(500 * 2 ** i - 5));
  expect(c.stats.lists).toBe(1);
  c.stop();
});

test('resync hands every cached object to the handler again, without calling the API', async () => {
  await put('resync-1');
  const { c, events } = await cache({ resyncMs: 200 });
  await eventually('resync-1 handed over three times', async () => {
    return events.filter((e) => e === 'changed resync-1').length >= 3;
  });
  expect(c.stats.lists).toBe(1);
  expect(c.stats.watches).toBe(1);
  c.stop();
});
