/**
 * The baseline of the worker benchmark: a bare Baileys socket with its own
 * useMultiFileAuthState on local disk, nothing else (no S3, KMS, NATS, lease or supervisor).
 * It runs as its own process so its start-up time and memory compare with a worker process.
 *
 * Env: SIM_URL (the simulator's ws URL), SIM_ROOT (its root public key, hex), AUTH_DIR.
 * Prints one JSON line per event on stdout: qr, close (with the status code), open, in
 * (a received message id with the wall-clock time it arrived, in ms with fractions).
 * Reads one JSON line per command on stdin: {"send": {"to": jid, "text": "…"}} calls
 * sendMessage (the outbound baseline).
 */
import { createInterface } from 'node:readline';
import { BaileysClient, quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { trustSimulatorRoot } from '../../../wa-sim/simulator.ts';

quietLibsignal();
const { SIM_URL, SIM_ROOT, AUTH_DIR } = process.env;
if (!SIM_URL || !SIM_ROOT || !AUTH_DIR) {
  process.stderr.write('bare-baileys: SIM_URL, SIM_ROOT and AUTH_DIR are required\n');
  process.exit(2);
}
trustSimulatorRoot(Buffer.from(SIM_ROOT, 'hex'));

const now = () => performance.timeOrigin + performance.now();
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
let current: BaileysClient | undefined;

async function connect(): Promise<void> {
  const client = await BaileysClient.start({ url: SIM_URL! }, { authDir: AUTH_DIR! });
  current = client;
  client.sock.ev.on('connection.update', (update) => {
    if (update.qr) emit({ event: 'qr', qr: update.qr });
    if (update.connection === 'open') emit({ event: 'open', t: now() });
    if (update.connection === 'close') {
      const code = client.closes.at(-1)?.statusCode;
      emit({ event: 'close', code });
      // After pairing the server asks for a restart (515): a new socket on the saved state.
      if (code === 515 && current === client) void connect();
    }
  });
  client.sock.ev.on('messages.upsert', ({ messages }) => {
    const t = now();
    for (const m of messages) if (!m.key.fromMe) emit({ event: 'in', id: m.key.id, t });
  });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const { send } = JSON.parse(line) as { send?: { to: string; text: string } };
  if (send) void current?.sock.sendMessage(send.to, { text: send.text });
});

process.once('SIGTERM', () => {
  current?.end();
  setTimeout(() => process.exit(0), 200).unref();
});
await connect();
