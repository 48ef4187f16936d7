/**
 * Runs real worker processes (`node dist/worker-bundle/main.mjs`, the bundle the image runs) against the real NATS, MinIO and
 * local-kms of the test stack and the WhatsApp Web protocol simulator (wa-sim), and
 * watches what they publish. Shared by the worker end-to-end tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AckPolicy, connect, type NatsConnection, type Subscription } from 'nats';
import {
  channelSubjects,
  clinicStream,
  validatePayload,
  type CommandReply,
  type InboundMessageEvent,
  type MessageUpdateEvent,
  type PairingEvent,
  type StatusEvent,
} from '../../../contract/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { freePort } from '../../harness/ports.ts';
import { testStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';
import { realStorage, stateStoreEnv } from '../auth-store/fixtures.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

export type Storage = Awaited<ReturnType<typeof realStorage>>;

export interface WorkerProcess extends NodeChild {
  holder: string;
  httpPort: number;
}

export interface ChannelEnv {
  clinic: string;
  channel: string;
  storage: Storage;
  sim: Simulator;
  /** File holding the simulator's root key (hex), WA_TRUST_ROOT. */
  trustRoot: string;
  /** File holding the simulator's media host CA (PEM), the worker's NODE_EXTRA_CA_CERTS. */
  mediaCa?: string;
}

/** The media host's test CA in a file, for a worker process's NODE_EXTRA_CA_CERTS. */
export function mediaCaFile(sim: Simulator, name: string): string {
  const file = join(testStack().workDir, `${name}-${Date.now().toString(36)}-media-ca.pem`);
  writeFileSync(file, sim.media.caPem);
  return file;
}

export function trustRootFile(sim: Simulator, name: string): string {
  const file = join(testStack().workDir, `${name}-${Date.now().toString(36)}-root.hex`);
  writeFileSync(file, sim.rootPublicKey.toString('hex'));
  return file;
}

/**
 * The environment of a worker process for one channel of the test stack, as its pod would
 * have it, minus what says where WhatsApp is (WA_WS_URL, WA_TRUST_ROOT) and the HTTP port.
 */
export function workerBaseEnv(
  clinic: string,
  channel: string,
  holder: string,
  storage: { bucket: string; keyId: string },
): Record<string, string> {
  const stack = testStack();
  return {
    WA_CLINIC_ID: clinic,
    WA_CHANNEL_ID: channel,
    WA_LEASE_HOLDER: holder,
    NATS_URL: stack.nats.url,
    ...stateStoreEnv(storage),
    AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
  };
}

/** A worker process for the channel, connecting to the simulator. */
export async function startWorker(
  env: ChannelEnv,
  holder: string,
  extra: Record<string, string> = {},
): Promise<WorkerProcess> {
  const httpPort = await freePort();
  const worker = spawnNode(WORKER_ENTRY, {
    ...workerBaseEnv(env.clinic, env.channel, holder, env.storage),
    WA_WS_URL: env.sim.url,
    WA_TRUST_ROOT: env.trustRoot,
    // Node reads it only at start: the worker trusts the simulated media host from its first download.
    ...(env.mediaCa ? { NODE_EXTRA_CA_CERTS: env.mediaCa } : {}),
    WA_HTTP_PORT: String(httpPort),
    WA_LOG_LEVEL: 'info',
    // Tests that are not about send pacing send bursts of 100 and more to one contact; the
    // pacing tests (worker/send-pacing.test.ts) pass their own policy.
    WA_SEND_POLICY: JSON.stringify({ ratePerMinute: 600, burst: 100, newContactsPerDay: 10_000 }),
    WA_CLINIC_SEND_BUDGET: JSON.stringify({ ratePerMinute: 60_000, burst: 10_000 }),
    ...extra,
  });
  return { ...worker, holder, httpPort };
}

/** Everything a channel publishes on core NATS (status and QR), validated against the contract. */
export class ChannelWatch {
  readonly status: StatusEvent[] = [];
  readonly pairing: PairingEvent[] = [];
  readonly invalid: string[] = [];
  readonly #subs: Subscription[] = [];

  private constructor() {}

  static async start(nc: NatsConnection, clinic: string, channel: string): Promise<ChannelWatch> {
    const w = new ChannelWatch();
    const subjects = channelSubjects(clinic, channel);
    w.#subs.push(
      nc.subscribe(subjects.status, {
        callback: (_e, m) => {
          const checked = validatePayload('status', m.json());
          if (checked.ok) w.status.push(checked.value);
          else w.invalid.push(`status: ${checked.errors.join('; ')}`);
        },
      }),
      nc.subscribe(subjects.qr, {
        callback: (_e, m) => {
          const checked = validatePayload('qr', m.json());
          if (checked.ok) w.pairing.push(checked.value);
          else w.invalid.push(`qr: ${checked.errors.join('; ')}`);
        },
      }),
    );
    await nc.flush();
    return w;
  }

  phases(worker?: string): string[] {
    return this.status.filter((s) => !worker || s.worker === worker).map((s) => s.phase);
  }

  waitStatus(
    what: string | (() => string),
    p: (s: StatusEvent) => boolean,
    ms = 60_000,
  ): Promise<StatusEvent> {
    return eventually(
      () =>
        `${typeof what === 'function' ? what() : what} (statuses by then: ${JSON.stringify(this.status.map((s) => [s.worker, s.phase, s.reason]))})`,
      async () => this.status.find(p),
      ms,
    );
  }

  waitQr(after = 0, ms = 60_000): Promise<PairingEvent> {
    return eventually('a QR code', async () => this.pairing.slice(after).find((p) => p.type === 'qr'), ms);
  }

  stop(): void {
    for (const s of this.#subs) s.unsubscribe();
  }
}

/** All inbound messages of a channel stored in its clinic's stream, in stream order. */
export function storedInbound(
  nc: NatsConnection,
  clinic: string,
  channel: string,
): Promise<{ msgId: string; event: InboundMessageEvent }[]> {
  return storedEvents<InboundMessageEvent>(nc, clinic, channel, channelSubjects(clinic, channel).msgIn);
}

/** All message updates (receipts, edits, revokes) of a channel stored in its clinic's stream. */
export function storedUpdates(
  nc: NatsConnection,
  clinic: string,
  channel: string,
): Promise<{ msgId: string; event: MessageUpdateEvent }[]> {
  return storedEvents<MessageUpdateEvent>(nc, clinic, channel, channelSubjects(clinic, channel).msgUpdate);
}

async function storedEvents<E>(
  nc: NatsConnection,
  clinic: string,
  channel: string,
  subject: string,
): Promise<{ msgId: string; event: E }[]> {
  const jsm = await nc.jetstreamManager();
  const stream = clinicStream(clinic).name;
  const name = `check-${Math.random().toString(36).slice(2, 10)}`;
  await jsm.consumers.add(stream, {
    name,
    ack_policy: AckPolicy.None,
    filter_subject: subject,
    inactive_threshold: 60_000_000_000,
  });
  const consumer = await nc.jetstream().consumers.get(stream, name);
  const pending = (await consumer.info()).num_pending;
  const out: { msgId: string; event: E }[] = [];
  if (pending > 0) {
    const batch = await consumer.fetch({ max_messages: pending, expires: 10_000 });
    for await (const m of batch) {
      out.push({ msgId: m.headers?.get('Nats-Msg-Id') ?? '', event: m.json<E>() });
      if (out.length === pending) break;
    }
  }
  await jsm.consumers.delete(stream, name).catch(() => undefined);
  return out;
}

export async function command(
  nc: NatsConnection,
  clinic: string,
  channel: string,
  verb: string,
  body: unknown,
  timeoutMs = 30_000,
): Promise<CommandReply> {
  const reply = await nc.request(
    channelSubjects(clinic, channel).command(verb),
    new TextEncoder().encode(JSON.stringify(body)),
    { timeout: timeoutMs },
  );
  return reply.json<CommandReply>();
}

export async function connectNats(): Promise<NatsConnection> {
  return connect({ servers: testStack().nats.url });
}

export { eventually, realStorage };

/** Starts a worker for a fresh channel and links it to `phonePn` by QR; resolves once Connected. */
export async function pairNewChannel(
  nc: NatsConnection,
  env: ChannelEnv,
  holder: string,
  phonePn: string,
  extra: Record<string, string> = {},
): Promise<{ worker: WorkerProcess; device: string; watch: ChannelWatch }> {
  const watch = await ChannelWatch.start(nc, env.clinic, env.channel);
  const worker = await startWorker(env, holder, extra);
  const qr = await watch.waitQr();
  const device = await env.sim.phone(phonePn).scanQr(qr.qr!);
  await watch.waitStatus('Connected after pairing', (s) => s.worker === holder && s.phase === 'Connected');
  return { worker, device, watch };
}

/**
 * One worker end-to-end test file's world: the simulator, NATS, a bucket and a clinic of its own.
 * Call at the top of the file: it registers the jest hooks. Every worker started through it is
 * SIGKILLed, and awaited, before NATS and the simulator stop.
 */
export class WorkerSuite {
  sim!: Simulator;
  nc!: NatsConnection;
  storage!: Storage;
  readonly clinic = `e2e-${Date.now().toString(36)}`;
  readonly #workers: WorkerProcess[] = [];
  readonly #name: string;

  constructor(name: string, afterWorkers: () => Promise<void> = async () => undefined) {
    this.#name = name;
    beforeAll(async () => {
      this.sim = await startSimulator();
      this.nc = await connectNats();
      this.storage = await realStorage(name);
    });
    afterAll(async () => {
      for (const w of this.#workers) w.kill('SIGKILL');
      await Promise.all(this.#workers.map((w) => w.exited));
      await afterWorkers();
      await this.nc?.close();
      await this.sim?.stop();
    });
  }

  envFor(channel: string): ChannelEnv {
    return {
      clinic: this.clinic,
      channel,
      storage: this.storage,
      sim: this.sim,
      trustRoot: trustRootFile(this.sim, `${this.#name}-${channel}`),
      mediaCa: mediaCaFile(this.sim, `${this.#name}-${channel}`),
    };
  }

  /** Starts a worker for the channel, stopped with the suite. */
  async startWorker(
    env: ChannelEnv,
    holder: string,
    extra: Record<string, string> = {},
  ): Promise<WorkerProcess> {
    return this.track(await startWorker(env, holder, extra));
  }

  /** A new channel paired to `phone`; its worker is stopped with the suite. */
  async pair(env: ChannelEnv, holder: string, phone: string, extra: Record<string, string> = {}) {
    const paired = await pairNewChannel(this.nc, env, holder, phone, extra);
    this.track(paired.worker);
    return paired;
  }

  track(worker: WorkerProcess): WorkerProcess {
    this.#workers.push(worker);
    return worker;
  }
}
