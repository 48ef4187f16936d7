/**
 * The baseline of the media benchmark: a bare Baileys socket (useMultiFileAuthState on local
 * disk) that downloads each inbound attachment with Baileys' own `downloadMediaMessage`, in
 * MODE `buffer` (the whole file in memory, the common use) or `stream` (written to a file).
 *
 * Env: SIM_URL, SIM_ROOT (hex), AUTH_DIR, MODE, NODE_EXTRA_CA_CERTS (the media host's CA).
 * Prints one JSON line per event: qr, close, open, media (message id, bytes, wall-clock time done).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { downloadMediaMessage, type WAMessage } from '@whiskeysockets/baileys';
import { BaileysClient, quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { trustSimulatorRoot } from '../../../wa-sim/simulator.ts';

quietLibsignal();
const { SIM_URL, SIM_ROOT, AUTH_DIR, MODE } = process.env;
if (!SIM_URL || !SIM_ROOT || !AUTH_DIR || (MODE !== 'buffer' && MODE !== 'stream')) {
  process.stderr.write('bare-download: SIM_URL, SIM_ROOT, AUTH_DIR and MODE (buffer|stream) are required\n');
  process.exit(2);
}
trustSimulatorRoot(Buffer.from(SIM_ROOT, 'hex'));

const now = () => performance.timeOrigin + performance.now();
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
let current: BaileysClient | undefined;

async function download(m: WAMessage): Promise<void> {
  let bytes = 0;
  if (MODE === 'buffer') {
    bytes = (await downloadMediaMessage(m, 'buffer', {})).length;
  } else {
    const file = join(AUTH_DIR!, `${m.key.id}.bin`);
    const stream = await downloadMediaMessage(m, 'stream', {});
    stream.on('data', (c: Buffer) => (bytes += c.length));
    await pipeline(stream, createWriteStream(file));
    await rm(file);
  }
  emit({ event: 'media', id: m.key.id, bytes, t: now() });
}

async function connect(): Promise<void> {
  const client = await BaileysClient.start({ url: SIM_URL! }, { authDir: AUTH_DIR! });
  current = client;
  client.sock.ev.on('connection.update', (update) => {
    if (update.qr) emit({ event: 'qr', qr: update.qr });
    if (update.connection === 'open') emit({ event: 'open', t: now() });
    if (update.connection === 'close') {
      const code = client.closes.at(-1)?.statusCode;
      emit({ event: 'close', code });
      if (code === 515 && current === client) void connect();
    }
  });
  client.sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages)
      if (!m.key.fromMe && m.message?.documentMessage)
        download(m).catch((err: unknown) => emit({ event: 'error', message: String(err) }));
  });
}

process.once('SIGTERM', () => {
  current?.end();
  setTimeout(() => process.exit(0), 200).unref();
});
await connect();
