/**
 * npm run bench -- fleet: many connected workers on one machine, each a real worker process
 * linked to its own simulated phone, sharing one NATS, one MinIO and one local-kms. Two outages:
 *
 * - NATS restarted: the bench's own nats-server is stopped (SIGTERM), stays down for
 *   BENCH_FLEET_NATS_DOWN_SECONDS (10) and is started again with the same configuration: the same
 *   port and the same JetStream store folder, so the streams and their messages come back from disk;
 * - S3 unreachable for BENCH_FLEET_S3_DOWN_SECONDS (30): a TCP proxy in front of MinIO resets every
 *   connection and refuses new ones (MinIO keeps running; a restart would look the same to a client).
 *
 * During each outage a patient writes to every channel; once it is over, every channel gets one
 * more message. Printed per outage: the time from the end of the outage until every channel is
 * Connected again and every message of the round is in JetStream (for NATS: from the moment the
 * restarted server reports JetStream ready), and the messages lost (goal: 0). The channels' statuses
 * are read from the clinic's stream, like the messages, so none is missed while the bench's own
 * connection is away. BENCH_FLEET (40) sets the number of workers; each takes about 150 MiB of memory.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import {
  channelSubjects,
  clinicStream,
  type InboundMessageEvent,
  type StatusEvent,
} from '../../../contract/index.ts';
import { workerNodeOptions } from '../../../operator/src/pod.ts';
import { ManagedProcess, httpOk } from '../../harness/process.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { ensureAllBinaries, publishStack, startStack } from '../../harness/stack.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { buildWorkerBundleWithCompileCache } from '../../harness/worker-bundle.ts';
import { startSimulator } from '../../../wa-sim/simulator.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { waitUntil } from '../../../wa-sim/wait.ts';
import { GoalTable } from '../goal-table.ts';
import {
  pairNewChannel,
  realStorage,
  trustRootFile,
  type ChannelEnv,
  type WorkerProcess,
} from '../../integration/worker/worker-harness.ts';

const FLEET = Number(process.env.BENCH_FLEET ?? 40);
const NATS_DOWN_MS = Number(process.env.BENCH_FLEET_NATS_DOWN_SECONDS ?? 10) * 1000;
const S3_DOWN_MS = Number(process.env.BENCH_FLEET_S3_DOWN_SECONDS ?? 30) * 1000;
/** Workers paired at the same time (each pairing starts a process and scans a QR code). */
const PAIRING_AT_ONCE = 4;
const RECOVERY_LIMIT_MS = 240_000;

const print = (line: string) => process.stdout.write(`${line}\n`);
const progress = (what: string) => process.stderr.write(`[bench fleet] ${what}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

quietLibsignal();
// Under load the simulator can reject a waiter of a connection that closed mid-exchange with no
// one listening (wa-sim/server/client-session.ts); the bench counts and reports those instead of dying.
const unhandled: string[] = [];
process.on('unhandledRejection', (err) => unhandled.push(err instanceof Error ? err.message : String(err)));
const running = await startStack(() => {}, ['s3', 'kms']);
// NATS is the bench's own process (not the stack's), so it can be stopped and started again.
const natsBin = (await ensureAllBinaries(() => {}, ['nats'])).natsServer;
const natsStarted = await startNats(natsBin, running.stack.workDir).catch(async (err: unknown) => {
  await running.stop();
  throw err;
});
let natsServer: ManagedProcess = natsStarted.process;
running.stack.nats = natsStarted.info;
await publishStack(running.stack);
const workers: WorkerProcess[] = [];
const proxies: TcpProxy[] = [];
const compileCache = await mkdtemp(join(tmpdir(), 'bench-fleet-cache-'));
const sim = await startSimulator();
const nc: NatsConnection = await connect({
  servers: running.stack.nats.url,
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
});
try {
  const s3Proxy = await TcpProxy.start(running.stack.s3.endpoint);
  proxies.push(s3Proxy);
  // As the worker image does at build time (worker/Dockerfile): the bundle, then its compile cache.
  buildWorkerBundleWithCompileCache(compileCache);
  const storage = await realStorage('bench-fleet');
  const clinic = `fleet-${Date.now().toString(36)}`;
  const extra = {
    NATS_URL: running.stack.nats.url,
    WA_S3_ENDPOINT: `http://127.0.0.1:${s3Proxy.port}`,
    NODE_OPTIONS: workerNodeOptions(268),
    NODE_COMPILE_CACHE: compileCache,
    WA_LOG_LEVEL: 'warn',
  };

  // The latest status of each channel and every inbound message stored, read from the clinic's stream,
  // with when each channel last became Connected and when each message arrived (for the spread).
  const latest = new Map<string, StatusEvent>();
  const connectedAt = new Map<string, number>();
  const stored = new Map<string, number>();
  const phones: string[] = [];
  const channels = Array.from({ length: FLEET }, (_, i) => `ch-${i}`);
  const envOf = (channel: string): ChannelEnv => ({
    clinic,
    channel,
    storage,
    sim,
    trustRoot: trustRootFile(sim, `fleet-${channel}`),
  });
  const t0 = performance.now();
  for (let i = 0; i < FLEET; i += PAIRING_AT_ONCE) {
    await Promise.all(
      channels.slice(i, i + PAIRING_AT_ONCE).map(async (channel, k) => {
        const pn = `55119${String(i + k).padStart(7, '0')}`;
        phones[i + k] = pn;
        const paired = await pairNewChannel(nc, envOf(channel), `fleet-${channel}`, pn, extra);
        paired.watch.stop();
        workers.push(paired.worker);
      }),
    );
    progress(`${Math.min(i + PAIRING_AT_ONCE, FLEET)} of ${FLEET} workers paired`);
  }
  const pairedMs = performance.now() - t0;
  const js = nc.jetstream();
  const consumer = await js.consumers.get(clinicStream(clinic).name, {
    filterSubjects: channels.flatMap((c) => [
      channelSubjects(clinic, c).msgIn,
      channelSubjects(clinic, c).status,
    ]),
  });
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) {
      if (m.subject.endsWith('.status')) {
        const s = m.json<StatusEvent>();
        if (s.phase === 'Connected' && latest.get(s.channelId)?.phase !== 'Connected')
          connectedAt.set(s.channelId, Date.now());
        latest.set(s.channelId, s);
      } else stored.set(m.json<InboundMessageEvent>().id, Date.now());
    }
  })();
  const rssMiB = workers.reduce((sum, w) => sum + vmRssMiB(w.child.pid!), 0);

  const contact = sim.contact('15550009000', 'Patient');
  /** One message to every channel; resolves with their ids. */
  const round = async (label: string) =>
    Promise.all(phones.map(async (pn) => (await contact.sendText(pn, label)).id));

  /** `down` takes the service away; `up` brings it back and resolves once it answers again. */
  const outage = async (name: string, down: () => Promise<void>, up: () => Promise<void>, downMs: number) => {
    progress(`${name}: down for ${seconds(downMs)}`);
    await down();
    const during = await round(`${name} during`);
    await sleep(downMs);
    await up();
    const upAt = Date.now();
    const after = await round(`${name} after`);
    const all = [...during, ...after];
    const recovered = () =>
      channels.every((c) => latest.get(c)?.phase === 'Connected') && all.every((id) => stored.has(id));
    let recoveredMs: number | undefined;
    try {
      await waitUntil(recovered, RECOVERY_LIMIT_MS, `${name}: every channel Connected and publishing`, 50);
      recoveredMs = Date.now() - upAt;
    } catch {
      // Reported below as not recovered, with what is missing.
    }
    const lost = all.filter((id) => !stored.has(id)).length;
    const notConnected = channels.filter((c) => latest.get(c)?.phase !== 'Connected');
    // Per channel: from the end of the outage until it was Connected and both its messages were
    // stored (0 for a channel that stayed Connected and whose messages went through at once).
    const perChannel = channels
      .map((c, i) =>
        Math.max(
          0,
          (connectedAt.get(c) ?? 0) - upAt,
          (stored.get(during[i]!) ?? Infinity) - upAt,
          (stored.get(after[i]!) ?? Infinity) - upAt,
        ),
      )
      .sort((a, b) => a - b);
    const spread = `first ${seconds(perChannel[0]!)}, median ${seconds(perChannel[perChannel.length >> 1]!)}`;
    progress(
      `${name}: ${recoveredMs === undefined ? 'NOT recovered' : `recovered in ${seconds(recoveredMs)}`}`,
    );
    return { recoveredMs, spread, lost, sent: all.length, notConnected };
  };

  // The restart's own durations: SIGTERM → exited, and start → JetStream ready (its store read back).
  let stopMs = 0;
  let startMs = 0;
  const nats = await outage(
    'NATS',
    async () => {
      const t = performance.now();
      await natsServer.stop();
      stopMs = performance.now() - t;
    },
    async () => {
      const t = performance.now();
      natsServer = await restartNats();
      startMs = performance.now() - t;
    },
    NATS_DOWN_MS,
  );
  const s3 = await outage(
    'S3',
    async () => s3Proxy.down(),
    async () => s3Proxy.up(),
    S3_DOWN_MS,
  );
  await messages.close();

  const exited = workers.filter((w) => w.child.exitCode !== null || w.child.signalCode !== null).length;
  const table = new GoalTable(['measure', 'value']);
  table.addRow([`workers connected at once (pairing all took ${seconds(pairedMs)})`, String(FLEET)]);
  table.addRow([
    `their RSS together / per worker`,
    `${rssMiB.toFixed(0)} / ${(rssMiB / FLEET).toFixed(0)} MiB`,
  ]);
  for (const [name, downFor, r] of [
    [
      'NATS restarted',
      `(down ${seconds(NATS_DOWN_MS)}; stop took ${seconds(stopMs)}, start to JetStream ready ${seconds(startMs)})`,
      nats,
    ],
    ['S3 unreachable', seconds(S3_DOWN_MS), s3],
  ] as const) {
    table.addRow([
      `${name} ${downFor}: back → every channel Connected and publishing`,
      r.recoveredMs === undefined
        ? `not within ${seconds(RECOVERY_LIMIT_MS)} (${r.notConnected.length} not Connected)`
        : `${seconds(r.recoveredMs)} (per channel: ${r.spread})`,
    ]);
    table.addRow([`${name}: messages lost of ${r.sent}`, String(r.lost)], { text: '0', met: r.lost === 0 });
  }
  table.addRow(['workers that exited', String(exited)], { text: '0', met: exited === 0 });
  if (unhandled.length) table.addRow(['unhandled rejections in the bench (simulator)', unhandled.join('; ')]);
  print(`\nfleet of ${FLEET} workers on one machine (real processes, simulator, NATS, MinIO, local-kms)`);
  table.print(print);
} finally {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  for (const p of proxies) await p.stop();
  await nc.close();
  await sim.stop();
  await rm(compileCache, { recursive: true, force: true });
  await natsServer.stop();
  await running.stop();
}

/** nats-server again with the configuration it was started with: the same port and JetStream store. */
function restartNats(): Promise<ManagedProcess> {
  return ManagedProcess.start({
    name: 'nats-server (restarted)',
    command: natsBin,
    args: ['-c', natsStarted.info.configFile],
    logFile: join(running.stack.workDir, 'nats', 'nats-restarted.log'),
    ready: () => httpOk(`${natsStarted.info.monitorUrl}/healthz?js-enabled-only=true`),
  });
}

function vmRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}
