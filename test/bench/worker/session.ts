/**
 * The worker end to end, against the WhatsApp Web simulator, compared with a baseline run in
 * the same benchmark: a bare Baileys socket on its own useMultiFileAuthState on local disk
 * (bare-baileys.ts). Both are separate processes linked to their own simulated phone.
 *
 * Measured for each: process start → connected with restored state (median of 3 restarts),
 * idle RSS once connected, and an inbound burst from a simulated contact: messages per second
 * and latency from the contact's send to arrival (bare: Baileys' messages.upsert; worker: the
 * message stored in JetStream, read by an ordered consumer). For the worker, the S3 requests
 * (counted by an HTTP proxy in front of MinIO) and KMS calls (its own metric) per message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type NatsConnection } from 'nats';
import {
  channelSubjects,
  clinicStream,
  type InboundMessageEvent,
  type StatusEvent,
} from '../../../contract/index.ts';
import { ensureAuditStream } from '../../../contract/audit-stream.ts';
import { repoRoot } from '../../harness/paths.ts';
import type { TestStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator, type SimUser } from '../../../wa-sim/simulator.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { waitUntil } from '../../../wa-sim/wait.ts';
import { GoalTable } from '../goal-table.ts';
import { workerNodeOptions } from '../../../operator/src/pod.ts';
import { buildWorkerBundleWithCompileCache } from '../../harness/worker-bundle.ts';
import {
  pairNewChannel,
  realStorage,
  startWorker,
  trustRootFile,
  type ChannelEnv,
  type WorkerProcess,
} from '../../integration/worker/worker-harness.ts';

const MESSAGES = Number(process.env.BENCH_INBOUND ?? 300);
const RESTARTS = 3;
const IDLE_MS = 5_000;
/** The steady-rate rows: this many messages per second for this many seconds (inbound and outbound). */
const STEADY_RATE = Number(process.env.BENCH_STEADY_RATE ?? 20);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 30);
/**
 * The outbound rows' rate: half of the most a channel may send (the CRD caps
 * spec.sendPolicy.ratePerMinute at 600, 10 a second; the worker harness's policy is that), so
 * they measure the send path and not the rate limiter's queue.
 */
const OUTBOUND_RATE = Number(process.env.BENCH_OUTBOUND_RATE ?? 5);

// quietLibsignal() silences console.log (libsignal prints keys with it): the table goes to stdout directly.
const print = (line: string) => process.stdout.write(`${line}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
/** A process's resident memory now (VmRSS) or its peak so far (VmHWM), from /proc. */
const memMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no ${field} for pid ${pid}`);
  return Number(kb) / 1024;
};
const rssMiB = (pid: number) => memMiB(pid, 'VmRSS');

export interface SideResult {
  startToConnectedMs: number[];
  idleRssMiB: number;
  /** The peak resident memory of the process's life, read after the inbound burst. */
  peakRssMiB: number;
  inbound: { perSecond: number; latencies: number[] };
  /** Inbound at STEADY_RATE: the contact's send → messages.upsert / JetStream. */
  steady: number[];
  /** Outbound at OUTBOUND_RATE: the send request → the contact's phone has it; and the sends refused. */
  outbound: { latencies: number[]; refused: string[] };
}

export interface WorkerSideResult extends SideResult {
  s3PerMessage: Record<string, number>;
  kmsPerMessage: number;
  kmsPerStart: number;
  /** Each restart's start-up timeline from the worker's log (worker/src/ops/startup-timeline.ts). */
  startTimelines: string[];
}

/** Sends the burst from `contact` and waits until `arrived` has every id; returns rate and latencies. */
async function inboundBurst(
  contact: SimUser,
  to: string,
  arrived: Map<string, number>,
): Promise<SideResult['inbound']> {
  const sentAt = new Map<string, number>();
  const first = now();
  for (let i = 0; i < MESSAGES; i++) {
    const t = now();
    const sent = await contact.sendText(to, `bench ${i}`);
    sentAt.set(sent.id, t);
  }
  await waitUntil(() => [...sentAt.keys()].every((id) => arrived.has(id)), 180_000, 'every message', 5);
  const latencies = [...sentAt].map(([id, t]) => arrived.get(id)! - t);
  const last = Math.max(...[...sentAt.keys()].map((id) => arrived.get(id)!));
  return { perSecond: (MESSAGES / (last - first)) * 1000, latencies };
}

/** Sends STEADY_RATE messages a second for STEADY_SECONDS; latencies from each send to arrival. */
async function inboundSteady(contact: SimUser, to: string, arrived: Map<string, number>): Promise<number[]> {
  const sentAt = new Map<string, number>();
  const start = now();
  const count = STEADY_RATE * STEADY_SECONDS;
  for (let i = 0; i < count; i++) {
    await sleep(start + (i * 1000) / STEADY_RATE - now());
    const t = now();
    const sent = await contact.sendText(to, `steady ${i}`);
    sentAt.set(sent.id, t);
  }
  await waitUntil(() => [...sentAt.keys()].every((id) => arrived.has(id)), 60_000, 'every steady message', 5);
  return [...sentAt].map(([id, t]) => arrived.get(id)! - t);
}

/**
 * Asks the side to send OUTBOUND_RATE texts a second for STEADY_SECONDS to `contact`; latencies
 * from each request to the contact's phone holding the message (the simulator's clock, in ms).
 * A send the side refuses is counted (and reported), not waited for.
 */
async function outboundSteady(
  side: string,
  contact: SimUser,
  send: (text: string) => void | Promise<unknown>,
): Promise<{ latencies: number[]; refused: string[] }> {
  const asked = new Map<string, number>();
  const refused: string[] = [];
  const replies: Promise<unknown>[] = [];
  const start = now();
  const count = OUTBOUND_RATE * STEADY_SECONDS;
  for (let i = 0; i < count; i++) {
    await sleep(start + (i * 1000) / OUTBOUND_RATE - now());
    const text = `${side} out ${i}`;
    asked.set(text, Date.now());
    const reply = send(text);
    if (reply)
      replies.push(
        reply.catch((e: unknown) => {
          asked.delete(text);
          refused.push(e instanceof Error ? e.message : String(e));
        }),
      );
  }
  await Promise.all(replies);
  const received = () => new Map(contact.inbox.map((m) => [m.text ?? '', m.at]));
  await waitUntil(
    () => {
      const got = received();
      return [...asked.keys()].every((t) => got.has(t));
    },
    60_000,
    `every outbound message of ${side}`,
    5,
  );
  const got = received();
  return { latencies: [...asked].map(([text, t]) => got.get(text)! - t), refused };
}

// ── baseline: bare Baileys ───────────────────────────────────────────────────────────────

interface BareProcess {
  child: ChildProcess;
  opened: Promise<number>;
  arrived: Map<string, number>;
  exited: Promise<void>;
}

function startBare(sim: Simulator, authDir: string, onQr?: (qr: string) => void): BareProcess {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'test/bench/worker/bare-baileys.ts')],
    {
      env: {
        PATH: process.env.PATH,
        SIM_URL: sim.url,
        SIM_ROOT: sim.rootPublicKey.toString('hex'),
        AUTH_DIR: authDir,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const arrived = new Map<string, number>();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const opened = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare Baileys exited (${code}) before open`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as { event: string; qr?: string; id?: string; t?: number };
      if (e.event === 'qr') onQr?.(e.qr!);
      if (e.event === 'open') resolve(now());
      if (e.event === 'in') arrived.set(e.id!, e.t!);
    });
  });
  return { child, opened, arrived, exited };
}

async function stopBare(p: BareProcess): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

async function benchBare(sim: Simulator, phone: SimUser, contact: SimUser): Promise<SideResult> {
  const authDir = await mkdtemp(join(tmpdir(), 'bench-bare-'));
  try {
    let scanned = false;
    const pairing = startBare(sim, authDir, (qr) => {
      if (!scanned) void phone.scanQr(qr);
      scanned = true;
    });
    await pairing.opened;
    await stopBare(pairing);
    const times: number[] = [];
    let running: BareProcess | undefined;
    for (let i = 0; i < RESTARTS; i++) {
      if (running) await stopBare(running);
      await waitUntil(() => phone.devices().every((d) => d.live === 0), 10_000, 'the old socket to close');
      const t0 = now();
      running = startBare(sim, authDir);
      times.push((await running.opened) - t0);
    }
    await sleep(IDLE_MS);
    const idleRssMiB = rssMiB(running!.child.pid!);
    const inbound = await inboundBurst(contact, phone.jid, running!.arrived);
    const peakRssMiB = memMiB(running!.child.pid!, 'VmHWM');
    const steady = await inboundSteady(contact, phone.jid, running!.arrived);
    const outbound = await outboundSteady('bare', contact, (text) => {
      running!.child.stdin!.write(`${JSON.stringify({ send: { to: contact.jid, text } })}\n`);
    });
    await stopBare(running!);
    return { startToConnectedMs: times, idleRssMiB, peakRssMiB, inbound, steady, outbound };
  } finally {
    await rm(authDir, { recursive: true, force: true });
  }
}

// ── the worker ───────────────────────────────────────────────────────────────────────────

/** An HTTP proxy in front of MinIO that counts the worker's S3 requests by method. */
async function countingProxy(
  target: string,
): Promise<{ url: string; counts: Map<string, number>; server: Server }> {
  const { hostname, port } = new URL(target);
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    counts.set(req.method!, (counts.get(req.method!) ?? 0) + 1);
    const upstream = request(
      { host: hostname, port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts, server };
}

async function scrape(worker: WorkerProcess): Promise<{ kms: number }> {
  const text = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
  let kms = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('wa_worker_kms_calls_total')) kms += Number(line.split(' ').at(-1));
  return { kms };
}

/** "modules loaded 790, …, Connected 1,100": the worker's own start-up timeline, ms since its process start. */
async function startTimeline(worker: WorkerProcess): Promise<string> {
  const line = () =>
    worker
      .logs()
      .split('\n')
      .find((l) => l.includes('"msg":"start-up took'));
  await waitUntil(() => line() !== undefined, 10_000, `${worker.holder}'s start-up timeline`, 2);
  const { sinceStartMs } = JSON.parse(line()!) as { sinceStartMs: Record<string, number> };
  return Object.entries(sinceStartMs)
    .sort(([, a], [, b]) => a - b)
    .map(([step, ms]) => `${step} ${ms}`)
    .join(', ');
}

async function stopWorker(w: WorkerProcess): Promise<void> {
  w.kill('SIGTERM');
  await w.exited;
}

async function benchWorker(
  stack: TestStack,
  nc: NatsConnection,
  sim: Simulator,
  phone: SimUser,
  contact: SimUser,
): Promise<WorkerSideResult> {
  const proxy = await countingProxy(stack.s3.endpoint);
  const compileCache = await mkdtemp(join(tmpdir(), 'bench-compile-cache-'));
  try {
    buildWorkerBundleWithCompileCache(compileCache);
    const env: ChannelEnv = {
      clinic: 'bench',
      channel: 'front-desk',
      storage: await realStorage('bench-worker'),
      sim,
      trustRoot: trustRootFile(sim, 'bench-worker'),
    };
    // BENCH_WORKER_NODE_OPTIONS (added): e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the worker.
    const extra = {
      WA_S3_ENDPOINT: proxy.url,
      // As the operator runs it: NODE_OPTIONS for the default 384 MiB limit (operator/src/pod.ts),
      // and, as in the image, the compile cache filled before the first start (worker/Dockerfile).
      NODE_OPTIONS: `${workerNodeOptions(268)} ${process.env.BENCH_WORKER_NODE_OPTIONS ?? ''}`.trim(),
      NODE_COMPILE_CACHE: compileCache,
    };
    const subjects = channelSubjects(env.clinic, env.channel);
    const connectedAt = new Map<string, number>();
    nc.subscribe(subjects.status, {
      callback: (_e, m) => {
        const s = m.json<StatusEvent>();
        if (s.phase === 'Connected' && !connectedAt.has(s.worker ?? ''))
          connectedAt.set(s.worker ?? '', now());
      },
    });
    const paired = await pairNewChannel(nc, env, 'bench-0', phone.pn, extra);
    paired.watch.stop();
    await stopWorker(paired.worker);

    const times: number[] = [];
    let running: WorkerProcess | undefined;
    let kmsPerStart = 0;
    const startTimelines: string[] = [];
    for (let i = 1; i <= RESTARTS; i++) {
      if (running) await stopWorker(running);
      await waitUntil(() => phone.devices().every((d) => d.live === 0), 10_000, 'the old socket to close');
      const holder = `bench-${i}`;
      const t0 = now();
      running = await startWorker(env, holder, extra);
      await waitUntil(() => connectedAt.has(holder), 60_000, `${holder} Connected`, 2);
      times.push(connectedAt.get(holder)! - t0);
      kmsPerStart = (await scrape(running)).kms;
      startTimelines.push(await startTimeline(running));
    }
    await sleep(IDLE_MS);
    const idleRssMiB = rssMiB(running!.child.pid!);

    const arrived = new Map<string, number>();
    const js = nc.jetstream();
    const consumer = await js.consumers.get(clinicStream(env.clinic).name, {
      filterSubjects: [subjects.msgIn],
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) {
        const t = now();
        arrived.set(m.json<InboundMessageEvent>().id, t);
      }
    })();
    const s3Before = new Map(proxy.counts);
    const kmsBefore = (await scrape(running!)).kms;
    const inbound = await inboundBurst(contact, phone.jid, arrived);
    const kmsAfter = (await scrape(running!)).kms;
    const peakRssMiB = memMiB(running!.child.pid!, 'VmHWM');
    const s3PerMessage: Record<string, number> = {};
    for (const [method, n] of proxy.counts)
      s3PerMessage[method] = (n - (s3Before.get(method) ?? 0)) / MESSAGES;
    const steady = await inboundSteady(contact, phone.jid, arrived);
    let sends = 0;
    const outbound = await outboundSteady('worker', contact, async (text) => {
      const reply = await nc.request(
        subjects.command('send'),
        JSON.stringify({ idempotencyKey: `bench-${++sends}`, to: contact.pn, text }),
        { timeout: 30_000 },
      );
      const body = reply.json<{ ok: boolean; error?: unknown }>();
      if (!body.ok)
        throw new Error(
          `cmd.send refused: ${JSON.stringify(body)}; worker log:\n${running!.logs().slice(-4000)}`,
        );
    });
    await messages.close();
    await stopWorker(running!);
    return {
      startToConnectedMs: times,
      idleRssMiB,
      peakRssMiB,
      inbound,
      steady,
      outbound,
      s3PerMessage,
      kmsPerMessage: (kmsAfter - kmsBefore) / MESSAGES,
      kmsPerStart,
      startTimelines,
    };
  } finally {
    proxy.server.closeAllConnections();
    proxy.server.close();
    await rm(compileCache, { recursive: true, force: true });
  }
}

// ── the table ────────────────────────────────────────────────────────────────────────────

export async function runSessionBench(stack: TestStack): Promise<void> {
  quietLibsignal();
  const sim = await startSimulator();
  const nc = await connect({ servers: stack.nats.url });
  try {
    // As in a cluster, where the operator creates it at start: the worker's audit events (one per
    // command) are stored, instead of each publish being refused and logged as a warning.
    await ensureAuditStream(await nc.jetstreamManager());
    const contact = sim.contact('15550007000', 'Patient');
    const bare = await benchBare(sim, sim.phone('15550007001', 'Bare'), contact);
    const ours = await benchWorker(stack, nc, sim, sim.phone('15550007002', 'Worker'), contact);
    const table = new GoalTable([
      'measure',
      'bare Baileys (disk)',
      'worker (S3+KMS, NATS)',
      'worker vs bare',
    ]);
    const ratio = (b: number, w: number) => `${(w / b).toFixed(2)}x`;
    const p = (xs: number[], q: number) => percentile(xs, q);
    const startB = median(bare.startToConnectedMs);
    const startW = median(ours.startToConnectedMs);
    table.add(
      `start → Connected, restored state (median of ${RESTARTS}), ms`,
      startB,
      startW,
      0,
      ratio(startB, startW),
      {
        text: '≤ 1.3x',
        met: startW / startB <= 1.3,
      },
    );
    table.add(
      'idle RSS once connected, MiB',
      bare.idleRssMiB,
      ours.idleRssMiB,
      1,
      `${ours.idleRssMiB >= bare.idleRssMiB ? '+' : '−'}${Math.abs(ours.idleRssMiB - bare.idleRssMiB).toFixed(1)} MiB`,
      {
        text: '≤ +15 MiB',
        met: ours.idleRssMiB - bare.idleRssMiB <= 15,
      },
    );
    table.add(
      'peak RSS to the end of the burst, MiB',
      bare.peakRssMiB,
      ours.peakRssMiB,
      1,
      ratio(bare.peakRssMiB, ours.peakRssMiB),
      {
        text: '≤ 1.25x',
        met: ours.peakRssMiB / bare.peakRssMiB <= 1.25,
      },
    );
    const rateB = bare.inbound.perSecond;
    const rateW = ours.inbound.perSecond;
    table.add(`inbound burst of ${MESSAGES}: messages/s`, rateB, rateW, 0, ratio(rateB, rateW), {
      text: '≥ 0.8x',
      met: rateW / rateB >= 0.8,
    });
    for (const q of [50, 99]) {
      const b = p(bare.inbound.latencies, q);
      const w = p(ours.inbound.latencies, q);
      table.add(`inbound burst latency p${q}, ms`, b, w, 1, ratio(b, w), {
        text: '≤ 1.3x',
        met: w / b <= 1.3,
      });
    }
    for (const q of [50, 99]) {
      const b = p(bare.steady, q);
      const w = p(ours.steady, q);
      table.add(
        `inbound at ${STEADY_RATE}/s for ${STEADY_SECONDS} s, p${q}, ms`,
        b,
        w,
        1,
        ratio(b, w),
        q === 99 ? { text: '≤ 50 ms', met: w <= 50 } : undefined,
      );
    }
    for (const q of [50, 99]) {
      const b = p(bare.outbound.latencies, q);
      const w = p(ours.outbound.latencies, q);
      table.add(
        `outbound at ${OUTBOUND_RATE}/s for ${STEADY_SECONDS} s (send → phone), p${q}, ms`,
        b,
        w,
        1,
        ratio(b, w),
      );
    }
    print(
      `\nworker session end to end (simulator; inbound measured to messages.upsert for bare Baileys, to the JetStream ack (read by a consumer) for the worker; outbound from sendMessage / the cmd.send request to the phone)`,
    );
    table.print(print);
    const s3 = Object.entries(ours.s3PerMessage)
      .map(([m, n]) => `${n.toFixed(2)} ${m}`)
      .join(', ');
    print(
      `\nper inbound message in the burst (worker): S3 ${s3 || '0'}; KMS ${ours.kmsPerMessage.toFixed(3)} calls (KMS calls per worker start: ${ours.kmsPerStart})`,
    );
    print(
      `start → connected, every run (ms): baseline ${bare.startToConnectedMs.map((x) => x.toFixed(0)).join(', ')}; worker ${ours.startToConnectedMs.map((x) => x.toFixed(0)).join(', ')}`,
    );
    print('worker start-up timelines, ms since its process start (worker/src/ops/startup-timeline.ts):');
    for (const t of ours.startTimelines) print(`  ${t}`);
    if (ours.outbound.refused.length)
      print(`worker sends refused: ${ours.outbound.refused.length}, first: ${ours.outbound.refused[0]}`);
    if (sim.problems().length) print(`simulator problems: ${sim.problems().join('; ')}`);
  } finally {
    await nc.close();
    await sim.stop();
  }
}
