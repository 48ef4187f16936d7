import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { channelSubjects, validatePayload, type StatusEvent } from '../../../contract/index.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { freePort } from '../../harness/ports.ts';
import { testStack } from '../../harness/stack.ts';
import { realStorage } from '../auth-store/fixtures.ts';
import { workerBaseEnv } from '../worker/worker-harness.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

/**
 * Real worker processes (`node dist/worker-bundle/main.mjs`, the bundle the image runs) against real NATS, MinIO and
 * local-kms. WhatsApp is out of reach here (a closed port), so these tests cover
 * start-up, stored state, the lease between two workers and graceful hand-over;
 * the session itself is covered against the protocol simulator.
 */
const stack = testStack();
const storage = await realStorage('worker-proc');
const clinic = `wp-${Date.now().toString(36)}`;
let nc: NatsConnection;
const children: NodeChild[] = [];
// The simulator's trust root is required with WA_WS_URL; nothing listens there in these tests.
const trustRoot = join(stack.workDir, `${clinic}-trust-root.hex`);
writeFileSync(trustRoot, randomBytes(32).toString('hex'));

beforeAll(async () => {
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await nc.close();
});

async function startWorker(channel: string, holder: string, extra: Record<string, string> = {}) {
  const worker = spawnNode(WORKER_ENTRY, {
    ...workerBaseEnv(clinic, channel, holder, storage),
    WA_WS_URL: 'ws://127.0.0.1:1/ws', // nothing listens: the session keeps reconnecting
    WA_TRUST_ROOT: trustRoot,
    WA_HTTP_PORT: String(await freePort()),
    WA_LOG_LEVEL: 'debug',
    ...extra,
  });
  children.push(worker);
  return worker;
}

/** Collects the channel's status events from NATS. */
function watchStatus(channel: string): {
  events: StatusEvent[];
  sub: Subscription;
  next: (p: (e: StatusEvent) => boolean, ms?: number) => Promise<StatusEvent>;
} {
  const events: StatusEvent[] = [];
  const waiters: Array<() => void> = [];
  const sub = nc.subscribe(channelSubjects(clinic, channel).status, {
    callback: (_e, m) => {
      const checked = validatePayload('status', m.json());
      if (!checked.ok) throw new Error(`worker published an invalid status: ${checked.errors.join('; ')}`);
      events.push(checked.value);
      waiters.splice(0).forEach((w) => w());
    },
  });
  const next = async (p: (e: StatusEvent) => boolean, ms = 30_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = events.find(p);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching status within ${ms} ms; got ${JSON.stringify(events.map((e) => [e.worker, e.phase, e.reason]))}`,
        );
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 250);
      });
    }
  };
  return { events, sub, next };
}

describe('worker process lifecycle (real NATS, S3, KMS)', () => {
  test('starts, stores fresh creds encrypted, and reports Pending then Connecting', async () => {
    const status = watchStatus('front-desk');
    await nc.flush();
    const w = await startWorker('front-desk', 'pod-1');
    await status.next((e) => e.phase === 'Pending');
    await status.next((e) => e.phase === 'Connecting');
    const objects = (await storage.store.list(`wa/${clinic}/front-desk/`)).map((o) =>
      o.key.split('/').slice(3).join('/'),
    );
    expect(objects).toEqual(expect.arrayContaining(['datakey', 'lease', 'journal/000000000001']));
    const journal = await storage.store.get(`wa/${clinic}/front-desk/journal/000000000001`);
    expect(Buffer.from(journal!.body).subarray(0, 4).toString()).toBe('WAE1');
    expect(Buffer.from(journal!.body).toString('latin1')).not.toContain('noiseKey');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    // Every log line names the channel; none carries key material.
    const lines = w
      .logs()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ clinic, channel: 'front-desk' });
    expect(w.logs()).not.toMatch(/noiseKey|privKey|"private"/);
    status.sub.unsubscribe();
  });

  test('a second worker for the same channel waits for the lease, and takes over after SIGTERM', async () => {
    const status = watchStatus('billing');
    await nc.flush();
    const first = await startWorker('billing', 'pod-a');
    await status.next((e) => e.worker === 'pod-a' && e.phase === 'Connecting');
    const second = await startWorker('billing', 'pod-b');
    await status.next((e) => e.worker === 'pod-b' && e.phase === 'Pending');
    // While pod-a holds the lease, pod-b never gets past Pending.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(status.events.filter((e) => e.worker === 'pod-b').map((e) => e.phase)).toEqual(['Pending']);
    expect(second.logs()).toContain('waiting for the channel lease');

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // The lease was released, not left to expire: pod-b connects well within the 15 s TTL.
    await status.next((e) => e.worker === 'pod-b' && e.phase === 'Connecting', 10_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    status.sub.unsubscribe();
  });

  test("a data key that is not this channel's fails at start with a clear reason", async () => {
    const status = watchStatus('stolen');
    await nc.flush();
    const owner = await startWorker('owner', 'pod-o');
    await new Promise((r) => setTimeout(r, 500));
    await (async () => {
      for (let i = 0; i < 100 && !(await storage.store.get(`wa/${clinic}/owner/datakey`)); i++)
        await new Promise((r) => setTimeout(r, 100));
    })();
    owner.child.kill('SIGTERM');
    await owner.exited;
    const datakey = await storage.store.get(`wa/${clinic}/owner/datakey`);
    await storage.store.put(`wa/${clinic}/stolen/datakey`, datakey!.body);
    const thief = await startWorker('stolen', 'pod-t');
    const error = await status.next((e) => e.phase === 'Error');
    expect(error.reason).toBe('DataKeyUndecryptable');
    expect(error.message).toContain(`KMS refused to decrypt the data key of ${clinic}/stolen`);
    expect(await thief.exited).toBe(1);
    status.sub.unsubscribe();
  });
});
