/**
 * npm run demo: the whole product on one machine, no cluster and no cloud account.
 *
 * It starts a local nats-server with JetStream (local-servers/, as local mode does), the WhatsApp
 * protocol simulator (wa-sim) and the operator in local mode on deploy/examples/
 * (two clinics). Then it plays the scenario, showing what the clinics see on NATS:
 * the QR code drawn in the terminal and scanned by the simulated phone, the pairing code
 * typed on the other clinic's phone, an inbound message, a picture the worker stores and the
 * backend reads back over NATS (as `wa media get` does), a reply sent with a NATS command and
 * received by the patient, and a worker killed with SIGKILL and restored without a QR.
 *
 *   --ci              play the scenario without a terminal, print ✔/✘ per step, exit 1 if one failed
 *   --real-whatsapp   workers talk to the real WhatsApp (scan the QR with a real phone); no script
 *   --state-dir DIR   keep the state there (default: a temporary folder, removed at the end)
 *
 * Ctrl-C stops everything: the operator stops its workers (they release their leases),
 * then the simulator and nats-server stop. Nothing is left running.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderQr } from '../cli/commands/qr.ts';
import { eventLine } from '../cli/format.ts';
import { getMedia } from '../cli/commands/media.ts';
import { requestCommand } from '../cli/commands/request.ts';
import { channelSubjects, type WhatsAppChannel } from '../contract/index.ts';
import { ManifestFolder } from '../operator/src/local/manifest-folder.ts';
import { NATS_SERVER, startNats } from '../local-servers/nats-server.ts';
import { ensureServerBinary } from '../local-servers/server-binary.ts';
import type { ManagedProcess } from '../local-servers/managed-process.ts';
import { spawnSimulator, type SimulatorProcess } from '../wa-sim/control/process.ts';
import {
  startLocalOperator,
  watchNats,
  within,
  type LocalOperatorProcess,
  type NatsEvent,
} from './demo/local-stack.ts';

const { values: flags } = parseArgs({
  options: {
    ci: { type: 'boolean', default: false },
    'real-whatsapp': { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
  },
});
const ci = flags.ci;
const real = flags['real-whatsapp'];
if (ci && real) {
  console.error(
    'demo: --ci plays the scenario with the simulated phone; it cannot be combined with --real-whatsapp',
  );
  process.exit(2);
}
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const manifests = join(repoRoot, 'deploy', 'examples');
const PATIENT = '15550002222';
// The patient's picture: a real 8×8 PNG (167 bytes), small so the step costs well under a second.
const PICTURE = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbklEQVR42g3JQQHAQAgDwcrBBjawgY3YiI3YQM725jsfVVRTQy0lylSo++iimx56adGmQ7+YYpoZZhkxZsK82GKbHXZZsWbDvlChRoMWCRkFvXDhxoMXCxsHv0iRJkOWiJiEvLjimhtuOXHmwt0PWpp/gdxYfy8AAAAASUVORK5CYII=',
  'base64',
);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const say = (line: string) => console.log(ci ? `▶ ${line}` : `\x1b[1m▶ ${line}\x1b[0m`);
const show = (line: string) => console.log(`  ${line}`);
const results: boolean[] = [];
const check = (what: string, ok: boolean, why = '') => {
  results.push(ok);
  console.log(`${ok ? '✔' : '✘'} ${what}${ok || !why ? '' : ` — ${why}`}`);
  return ok;
};

let natsServer: ManagedProcess | undefined;
let natsDir: string | undefined;
let sim: SimulatorProcess | undefined;
let operator: LocalOperatorProcess | undefined;
let nats: Awaited<ReturnType<typeof watchNats>> | undefined;
let stateDir: string | undefined;
let natsUrl: string | undefined;
let stopping: Promise<void> | undefined;

/** Stops everything, in the order that lets each part end cleanly. */
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    say(
      'stopping: the operator stops its workers (they release their leases), then the simulator and nats-server',
    );
    await operator?.stop();
    await nats?.nc.close().catch(() => undefined);
    await sim?.stop();
    await natsServer?.stop();
    if (natsDir) await rm(natsDir, { recursive: true, force: true });
    if (stateDir && !flags['state-dir']) await rm(stateDir, { recursive: true, force: true });
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void shutdown().then(() => process.exit(0)));

/** The example channels, and the simulated phone of each (the number of a pairing-code channel is its own). */
async function exampleChannels(): Promise<Array<{ channel: WhatsAppChannel; phone: string }>> {
  // Read as the local operator reads them: the same validation, the same duplicate checks.
  const { channels, problems } = await new ManifestFolder(manifests).read();
  if (problems.length) throw new Error(problems.map((p) => `${p.file}: ${p.message}`).join('; '));
  return [...channels.values()].map((channel, i) => ({
    channel,
    phone: channel.spec.phoneNumber?.replace(/^\+/, '') ?? `1555000${1001 + i}`,
  }));
}

const where = (c: WhatsAppChannel) => `${c.spec.clinicId}/${c.spec.channelId}`;

function printEvent(e: NatsEvent): void {
  // Timestamps dropped: the subject and the payload are what a backend sees.
  const line = eventLine(e.subject, e.body).replace(/^\S+ /, '');
  show(`nats  ${line}`);
  if (!ci && e.body.type === 'qr' && typeof e.body.qr === 'string')
    void renderQr(e.body.qr).then(console.log);
}

async function main(): Promise<void> {
  const channels = await exampleChannels();
  stateDir = flags['state-dir'] ? resolve(flags['state-dir']) : await mkdtemp(join(tmpdir(), 'wa-demo-'));

  say('starting nats-server with JetStream on loopback (the first run builds it with Go)');
  // Its own temporary folder: every run starts with empty streams, even with a kept --state-dir.
  natsDir = await mkdtemp(join(tmpdir(), 'wa-demo-nats-'));
  const started = await startNats(await ensureServerBinary(NATS_SERVER, show), natsDir);
  natsServer = started.process;
  natsUrl = started.info.url;
  nats = await watchNats(natsUrl, printEvent);
  const events = nats.events;

  const workerEnv: Record<string, string> = {};
  if (!real) {
    say('starting the WhatsApp Web simulator: the phones of both clinics and a patient');
    const trustRoot = join(stateDir, 'simulator-root.hex');
    // The simulator's media host is HTTPS under a test CA it makes at start; the workers trust
    // it through NODE_EXTRA_CA_CERTS (read by Node at process start), as local mode allows.
    const mediaCa = join(stateDir, 'simulator-media-ca.pem');
    sim = await spawnSimulator([
      '--trust-root-file',
      trustRoot,
      '--media-ca-file',
      mediaCa,
      ...channels.map(({ channel, phone }) => ['--user', `${phone}:${where(channel)}`]).flat(),
      '--user',
      `${PATIENT}:Patient`,
    ]);
    workerEnv.WA_WS_URL = sim.url;
    workerEnv.WA_TRUST_ROOT = trustRoot;
    workerEnv.NODE_EXTRA_CA_CERTS = mediaCa;
  } else {
    say('workers connect to the real WhatsApp: scan the QR code with a real phone (Linked devices)');
  }

  say(
    `starting the operator in local mode on deploy/examples: ${channels.map((c) => where(c.channel)).join(', ')}`,
  );
  operator = await startLocalOperator({
    manifests,
    stateDir,
    natsUrl,
    workerEnv,
    onLine: (l) => {
      if (l.event === 'phase')
        show(`operator  ${l.clinicId}/${l.channelId} phase ${l.phase}${l.reason ? ` (${l.reason})` : ''}`);
      if (l.event === 'problem') show(`operator  ✘ ${String(l.file)}: ${String(l.message)}`);
    },
  });
  show(`state (encrypted) and worker logs: ${stateDir}`);
  if (real || !sim) {
    say('running; Ctrl-C stops everything');
    return;
  }
  const client = sim.client;
  const phaseOf = (c: WhatsAppChannel, phase: string, worker?: string) =>
    events.find(
      (e) =>
        e.subject === channelSubjects(c.spec.clinicId, c.spec.channelId).status &&
        e.body.phase === phase &&
        (worker === undefined || e.body.worker === worker),
    );
  const pairingEvent = (c: WhatsAppChannel, type: string, after = 0) =>
    events
      .slice(after)
      .find(
        (e) => e.subject === channelSubjects(c.spec.clinicId, c.spec.channelId).qr && e.body.type === type,
      );

  // 1. Pairing: the QR channel's phone scans the QR, the code channel's phone types the code.
  for (const { channel, phone } of channels) {
    const name = where(channel);
    if (channel.spec.pairing === 'code') {
      const code = await within(60_000, () => pairingEvent(channel, 'code'));
      if (!check(`${name}: pairing code published on NATS`, code !== undefined)) continue;
      say(`the phone +${phone} enters the pairing code ${String(code!.body.code)}`);
      await client.enterPairingCode(phone, String(code!.body.code));
    } else {
      const qr = await within(60_000, () => pairingEvent(channel, 'qr'));
      if (!check(`${name}: QR code published on NATS${ci ? '' : ' and drawn above'}`, qr !== undefined))
        continue;
      say(`the simulated phone +${phone} scans the QR code`);
      await client.scanQr(phone, String(qr!.body.qr));
    }
    const connected = await within(60_000, () => phaseOf(channel, 'Connected'));
    check(
      `${name}: paired and Connected (account ${String(connected?.body.account ?? '?')})`,
      connected !== undefined,
    );
  }

  // 2. The operator's view: the same phases, from the workers' NATS reports.
  const allConnected = await within(30_000, async () => {
    const view = await operator!.channels().catch(() => []);
    return view.length === channels.length && view.every((v) => v.status.phase === 'Connected')
      ? view
      : undefined;
  });
  check(
    `operator: ${channels.map((c) => `${where(c.channel)} Connected`).join(', ')} (status.json, like kubectl get wac)`,
    allConnected !== undefined,
  );

  // 3. A patient writes to the first QR channel; the message arrives on NATS.
  const front = channels.find((c) => c.channel.spec.pairing !== 'code') ?? channels[0]!;
  const subjects = channelSubjects(front.channel.spec.clinicId, front.channel.spec.channelId);
  const question = 'Hello, can I book an appointment for Tuesday?';
  say(`the patient +${PATIENT} writes to ${where(front.channel)}: "${question}"`);
  await client.sendText(PATIENT, `${front.phone}@s.whatsapp.net`, question);
  const inbound = await within(30_000, () =>
    events.find((e) => e.subject === subjects.msgIn && e.body.text === question),
  );
  check(`inbound message on ${subjects.msgIn}`, inbound !== undefined);

  // 3b. The patient sends a picture: the worker downloads it from the media host, checks it and
  // stores it encrypted before msg.in goes out; the backend reads it back over NATS.
  const caption = 'A photo of the rash, taken this morning';
  say(`the patient +${PATIENT} sends a picture (${PICTURE.length} bytes) with the caption "${caption}"`);
  await client.sendMedia(PATIENT, `${front.phone}@s.whatsapp.net`, {
    kind: 'image',
    data: PICTURE,
    mimetype: 'image/png',
    caption,
    width: 8,
    height: 8,
  });
  const withPicture = await within(30_000, () =>
    events.find((e) => e.subject === subjects.msgIn && e.body.text === caption),
  );
  const media = withPicture?.body.media as
    { state?: string; ref?: string; size?: number; sha256?: string; error?: string } | undefined;
  const stored = media?.state === 'stored' && typeof media.ref === 'string';
  check(
    `picture on ${subjects.msgIn}, stored by the worker${stored ? ` (media ${media.ref}, ${media.size} bytes)` : ''}`,
    stored,
    withPicture ? `media: ${JSON.stringify(media)}` : 'no message with the caption',
  );
  if (stored) {
    say(
      `the clinic backend reads it back piece by piece, as wa media get does: request ${subjects.command('media-get')}`,
    );
    // The CLI's own code: media-get from offset 0 until eof, checked against msg.in's SHA-256,
    // written to a file only once whole. The demo then compares it with the phone's original.
    // The plaintext goes to a folder of its own, removed at once: never beside the encrypted state.
    const readBack = await mkdtemp(join(tmpdir(), 'wa-demo-picture-'));
    const saved = join(readBack, 'picture.png');
    const back = await getMedia(nats.nc, front.channel.spec, media.ref!, saved, 30_000)
      .then(
        async () => ({ bytes: await readFile(saved) }),
        (err: Error) => ({ error: err.message }),
      )
      .finally(() => rm(readBack, { recursive: true, force: true }));
    const same = 'bytes' in back && sha256(back.bytes) === sha256(PICTURE);
    check(
      `picture read back over NATS${'bytes' in back ? ` (${back.bytes.length} bytes)` : ''}, byte-identical to what the phone sent (SHA-256)`,
      same,
      'error' in back ? back.error : `received SHA-256 ${sha256(back.bytes)}, sent ${sha256(PICTURE)}`,
    );
  }

  // 4. The clinic backend replies with a NATS command; the patient's phone receives it.
  const answer = 'Yes: Tuesday 10:30 is free. See you then!';
  say(`the clinic backend replies through NATS: request ${subjects.command('send')}`);
  // As `wa send` does it: the reply is checked against the contract's schema.
  const reply = await requestCommand(
    nats.nc,
    front.channel.spec,
    'send',
    { idempotencyKey: randomUUID(), to: `+${PATIENT}`, text: answer },
    30_000,
  ).catch((err: Error) => ({ ok: false, error: err.message }));
  const received = reply.ok
    ? await client.waitForMessage(PATIENT, (m) => m.text === answer, 30_000).catch(() => undefined)
    : undefined;
  check(
    `reply sent by the NATS command and received by the patient's phone${received ? ` ("${received.text}")` : ''}`,
    received !== undefined,
    JSON.stringify(reply),
  );

  // 5. SIGKILL of the worker: the operator restarts it, the session comes back without a QR.
  const before = (await operator.channels()).find(
    (v) => v.key === `${front.channel.metadata.namespace}/${front.channel.metadata.name}`,
  );
  const eventsBefore = events.length;
  if (before?.worker) {
    say(`killing the worker of ${where(front.channel)} (pid ${before.worker.pid}) with SIGKILL`);
    process.kill(before.worker.pid, 'SIGKILL');
    say(
      "the operator restarts it; the new worker waits for the dead one's lease to expire (15 s), then restores the session",
    );
    const back = await within(60_000, async () => {
      const now = (await operator!.channels()).find((v) => v.key === before.key);
      return now?.worker && now.worker.holder !== before.worker!.holder
        ? phaseOf(front.channel, 'Connected', now.worker.holder)
        : undefined;
    });
    const newQr = pairingEvent(front.channel, 'qr', eventsBefore);
    check(
      `${where(front.channel)}: worker killed, restarted by the operator and Connected again without a QR`,
      back !== undefined && newQr === undefined,
      newQr ? 'a new QR code was published' : 'not Connected again',
    );
  } else {
    check(`${where(front.channel)}: worker killed and restored`, false, 'no running worker in status.json');
  }
}

try {
  await main();
} catch (err) {
  check('demo', false, (err as Error).stack ?? String(err));
}
if (ci || results.includes(false)) {
  const failed = results.filter((ok) => !ok).length;
  console.log(`\ndemo: ${results.length - failed} passed, ${failed} failed`);
  await shutdown();
  process.exit(failed === 0 ? 0 : 1);
}
say('the demo keeps running: events appear above as they happen. In another terminal:');
show(`npm run wa -- --server ${natsUrl} status`);
say('Ctrl-C stops everything');
