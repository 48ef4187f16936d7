/**
 * npm run bench -- media: one inbound attachment of BENCH_MEDIA_MB (50) MB, from a simulated
 * patient's phone through the simulator's HTTPS media host, against a baseline measured in the
 * same run: a bare Baileys process downloading it with Baileys' own `downloadMediaMessage`
 * (`buffer`, the whole file in memory, and `stream`, to a file on disk), with no checks and no
 * storage. The worker downloads, checks MAC and both hashes, seals 1 MiB pieces into MinIO and
 * publishes to JetStream; then a backend reads the file back over NATS (media-get).
 *
 * Printed: time from the phone's send to "done" (baseline: download finished; worker: msg.in in
 * JetStream) and MB/s; each process's peak RSS (VmHWM) above its idle RSS, which is what the file
 * costs in memory; the backend's read-back rate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type NatsConnection } from 'nats';
import { channelSubjects, clinicStream, type InboundMessageEvent } from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';
import { publishStack, startStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator, type SimUser } from '../../../wa-sim/simulator.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { waitUntil } from '../../../wa-sim/wait.ts';
import {
  command,
  mediaCaFile,
  pairNewChannel,
  realStorage,
  trustRootFile,
  type ChannelEnv,
} from '../../integration/worker/worker-harness.ts';

const MB = Number(process.env.BENCH_MEDIA_MB ?? 50);
const SIZE = MB * 1024 * 1024;
const IDLE_MS = 3_000;
const print = (line: string) => process.stdout.write(`${line}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const memMiB = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no ${field} for pid ${pid}`);
  return Number(kb) / 1024;
};

interface Side {
  seconds: number;
  idleMiB: number;
  peakMiB: number;
}

async function bare(
  sim: Simulator,
  phone: SimUser,
  patient: SimUser,
  file: Buffer,
  mode: string,
): Promise<Side> {
  const authDir = await mkdtemp(join(tmpdir(), 'bench-media-bare-'));
  const ca = join(authDir, 'ca.pem');
  writeFileSync(ca, sim.media.caPem);
  const done = new Map<string, number>();
  let child: ChildProcess | undefined;
  try {
    let opens = 0;
    let scanned = false;
    child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(repoRoot, 'test/bench/media/bare-download.ts')],
      {
        env: {
          PATH: process.env.PATH,
          SIM_URL: sim.url,
          SIM_ROOT: sim.rootPublicKey.toString('hex'),
          AUTH_DIR: authDir,
          MODE: mode,
          NODE_EXTRA_CA_CERTS: ca,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as { event: string; qr?: string; id?: string; t?: number; bytes?: number };
      if (e.event === 'qr' && !scanned) {
        scanned = true;
        void phone.scanQr(e.qr!);
      }
      if (e.event === 'open') opens++;
      if (e.event === 'media' && e.bytes === SIZE) done.set(e.id!, e.t!);
      if (e.event === 'error') print(`  baseline error: ${line}`);
    });
    await waitUntil(() => opens > 0, 60_000, 'the bare socket open');
    await sleep(IDLE_MS);
    const idleMiB = memMiB(child.pid!, 'VmRSS');
    const t0 = now();
    const sent = await patient.sendMedia(phone.jid, {
      kind: 'document',
      data: file,
      mimetype: 'application/pdf',
    });
    await waitUntil(() => done.get(sent.id), 600_000, 'the baseline download', 20);
    return { seconds: (done.get(sent.id)! - t0) / 1000, idleMiB, peakMiB: memMiB(child.pid!, 'VmHWM') };
  } finally {
    child?.kill('SIGTERM');
    await rm(authDir, { recursive: true, force: true });
  }
}

async function worker(
  nc: NatsConnection,
  sim: Simulator,
  phone: SimUser,
  patient: SimUser,
  file: Buffer,
): Promise<Side & { readBackSeconds: number }> {
  const env: ChannelEnv = {
    clinic: 'bench',
    channel: 'media',
    storage: await realStorage('bench-media'),
    sim,
    trustRoot: trustRootFile(sim, 'bench-media'),
    mediaCa: mediaCaFile(sim, 'bench-media'),
  };
  const paired = await pairNewChannel(nc, env, 'bench-media-0', phone.pn);
  paired.watch.stop();
  const pid = paired.worker.child.pid!;
  try {
    await sleep(IDLE_MS);
    const idleMiB = memMiB(pid, 'VmRSS');
    const arrived = new Map<string, { t: number; event: InboundMessageEvent }>();
    const consumer = await nc.jetstream().consumers.get(clinicStream(env.clinic).name, {
      filterSubjects: [channelSubjects(env.clinic, env.channel).msgIn],
    });
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) {
        const event = m.json<InboundMessageEvent>();
        arrived.set(event.id, { t: now(), event });
      }
    })();
    const t0 = now();
    const sent = await patient.sendMedia(phone.jid, {
      kind: 'document',
      data: file,
      mimetype: 'application/pdf',
    });
    await waitUntil(() => arrived.get(sent.id), 600_000, 'msg.in with the stored file', 20);
    const seconds = (arrived.get(sent.id)!.t - t0) / 1000;
    const peakMiB = memMiB(pid, 'VmHWM');
    await messages.close();
    const media = arrived.get(sent.id)!.event.media;
    if (media?.state !== 'stored')
      throw new Error(`the worker did not store the file: ${JSON.stringify(media)}`);
    // The backend reads it back, 512 KiB per request.
    const r0 = now();
    const hash = createHash('sha256');
    for (let offset = 0; ;) {
      const reply = await command(nc, env.clinic, env.channel, 'media-get', { media: media.ref, offset });
      if (!reply.ok) throw new Error(JSON.stringify(reply.error));
      const data = Buffer.from(String(reply.result.data), 'base64');
      hash.update(data);
      offset += data.length;
      if (reply.result.eof) break;
    }
    const readBackSeconds = (now() - r0) / 1000;
    if (hash.digest('hex') !== createHash('sha256').update(file).digest('hex'))
      throw new Error('the file read back differs');
    return { seconds, idleMiB, peakMiB, readBackSeconds };
  } finally {
    paired.worker.kill('SIGTERM');
    await paired.worker.exited;
  }
}

/** The control: SIZE bytes through transient buffers in a bare process, nothing kept. */
async function control(): Promise<{ idleMiB: number; peakMiB: number }> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'test/bench/media/transient-control.ts')],
    { env: { PATH: process.env.PATH, SIZE: String(SIZE) }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  );
  return JSON.parse(line) as { idleMiB: number; peakMiB: number };
}

const running = await startStack(() => {}, ['nats', 's3', 'kms']);
await publishStack(running.stack);
quietLibsignal();
const sim = await startSimulator();
const nc = await connect({ servers: running.stack.nats.url });
try {
  const file = randomBytes(SIZE);
  const patient = sim.contact('15550008000', 'Patient');
  const buffer = await bare(sim, sim.phone('15550008001', 'BareBuffer'), patient, file, 'buffer');
  const stream = await bare(sim, sim.phone('15550008002', 'BareStream'), patient, file, 'stream');
  const ours = await worker(nc, sim, sim.phone('15550008003', 'Worker'), patient, file);
  const floor = await control();
  const rows = [
    ['', 'send → done s', 'MB/s', 'idle RSS MiB', 'peak RSS MiB', 'peak − idle MiB'],
    ...(
      [
        ['baseline: downloadMediaMessage, buffer', buffer],
        ['baseline: downloadMediaMessage, stream to disk', stream],
        ['worker: checked, sealed into MinIO, msg.in', ours],
      ] as [string, Side][]
    ).map(([name, s]) => [
      name,
      s.seconds.toFixed(2),
      (MB / s.seconds).toFixed(1),
      s.idleMiB.toFixed(0),
      s.peakMiB.toFixed(0),
      (s.peakMiB - s.idleMiB).toFixed(0),
    ]),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  print(`\ninbound media: one ${MB} MB document from a simulated phone (HTTPS media host on loopback)`);
  for (const r of rows) print(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  print(
    `backend read-back over NATS (media-get, 512 KiB per request): ${ours.readBackSeconds.toFixed(2)} s, ${(MB / ours.readBackSeconds).toFixed(1)} MB/s`,
  );
  print(
    `control, ${MB} MB through transient 64 KiB/1 MiB buffers, nothing kept: peak − idle ${(floor.peakMiB - floor.idleMiB).toFixed(0)} MiB (what the garbage collector lets transient buffers reach)`,
  );
  print(
    `worker/baseline(stream) time: ${(ours.seconds / stream.seconds).toFixed(2)}x; memory growth: worker ${(ours.peakMiB - ours.idleMiB).toFixed(0)} MiB for a ${MB} MB file`,
  );
} finally {
  await nc.close();
  await sim.stop();
  await running.stop();
}
