/**
 * An unmodified Baileys client pointed at a simulator, with its auth state in a directory
 * (useMultiFileAuthState) and everything it emits recorded for tests to wait on.
 */
import makeWASocket, {
  Browsers,
  useMultiFileAuthState,
  type UserFacingSocketConfig,
  type WAMessage,
  type WASocket,
} from '@whiskeysockets/baileys';
import pino from 'pino';
import type { Simulator, SimUser } from '../simulator.ts';
import { waitUntil } from '../wait.ts';

export interface ClientOptions {
  /** Where the auth state lives; reuse it to log in again without a QR code. */
  authDir: string;
  /** Extra socket settings (keepAliveIntervalMs, qrTimeout, …). */
  config?: Partial<UserFacingSocketConfig>;
}

export interface Close {
  statusCode: number | undefined;
  message: string;
}

/**
 * libsignal prints whole session records (private keys included) with console.info/warn and
 * expected decrypt failures with console.error; tests keep the console for their own output.
 */
export function quietLibsignal(): void {
  const noop = () => undefined;
  console.info = noop;
  console.warn = noop;
  console.log = noop;
  const error = console.error.bind(console);
  console.error = (...args: unknown[]) => {
    const first = String(args[0] ?? '');
    if (/^(Session error|Failed to decrypt|WARNING: Expected pubkey|V1 session)/.test(first)) return;
    error(...args);
  };
}

/** The text of a received message, whichever of the two text forms it uses. */
export function textOf(message: WAMessage): string | undefined {
  return message.message?.conversation ?? message.message?.extendedTextMessage?.text ?? undefined;
}

export class BaileysClient {
  readonly sock: WASocket;
  readonly qrs: string[] = [];
  readonly closes: Close[] = [];
  /** Messages from others (messages.upsert, not fromMe). */
  readonly received: WAMessage[] = [];
  /** Highest status seen per own message id (messages.update and upserts). */
  readonly statuses = new Map<string, number>();
  pairingCode: string | undefined;
  #open = false;
  #opens = 0;

  /** The creds writes in progress (useMultiFileAuthState writes files): `close()` waits for them. */
  #saving: Promise<unknown> = Promise.resolve();

  private constructor(sock: WASocket, saveCreds: () => Promise<void>) {
    this.sock = sock;
    sock.ev.on('creds.update', () => {
      this.#saving = Promise.all([this.#saving, saveCreds().catch(() => undefined)]);
    });
    sock.ev.on('connection.update', (update) => {
      if (update.qr) this.qrs.push(update.qr);
      if (update.connection === 'open') {
        this.#open = true;
        this.#opens++;
      }
      if (update.connection === 'close') {
        this.#open = false;
        const error = update.lastDisconnect?.error as
          (Error & { output?: { statusCode?: number } }) | undefined;
        this.closes.push({ statusCode: error?.output?.statusCode, message: error?.message ?? '' });
      }
    });
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) {
        if (!m.key.fromMe) this.received.push(m);
        else if (m.key.id && typeof m.status === 'number') this.#status(m.key.id, m.status);
      }
    });
    sock.ev.on('messages.update', (updates) => {
      for (const { key, update } of updates) {
        if (key.fromMe && key.id && typeof update.status === 'number') this.#status(key.id, update.status);
      }
    });
  }

  /** `sim`: an in-process Simulator or any `{ url }` (a simulator process). */
  static async start(sim: Pick<Simulator, 'url'>, options: ClientOptions): Promise<BaileysClient> {
    const { state, saveCreds } = await useMultiFileAuthState(options.authDir);
    const sock = makeWASocket({
      waWebSocketUrl: sim.url,
      auth: state,
      // SIM_BAILEYS_LOG=debug shows what Baileys decided (devices, sender keys) when a test fails.
      logger: pino({ level: process.env.SIM_BAILEYS_LOG ?? 'silent' }),
      browser: Browsers.ubuntu('Chrome'),
      // Short, so an unanswered query shows up as a failure instead of a minute-long stall.
      defaultQueryTimeoutMs: 5_000,
      connectTimeoutMs: 10_000,
      syncFullHistory: false,
      markOnlineOnConnect: false,
      // The simulator has no history to sync; without this Baileys waits 20 s for it after the
      // first login (a timer it never clears, which keeps the test process alive).
      shouldSyncHistoryMessage: () => false,
      ...options.config,
    });
    return new BaileysClient(sock, saveCreds);
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** The JID the client logged in as ("<pn>:<device>@s.whatsapp.net"). */
  get me(): string | undefined {
    return this.sock.authState.creds.me?.id;
  }

  waitForQr(count = 1, timeoutMs = 10_000): Promise<string> {
    return waitUntil(() => this.qrs.length >= count && this.qrs[count - 1], timeoutMs, `QR #${count}`);
  }

  waitForOpen(timeoutMs = 15_000): Promise<true> {
    return waitUntil(() => this.#opens > 0 && this.#open, timeoutMs, 'connection open');
  }

  waitForClose(timeoutMs = 15_000): Promise<Close> {
    return waitUntil(() => this.closes[0], timeoutMs, 'connection close');
  }

  waitForMessage(match: (m: WAMessage) => boolean, timeoutMs = 10_000): Promise<WAMessage> {
    return waitUntil(() => this.received.find(match), timeoutMs, 'an incoming message');
  }

  /** Ends the socket from the client side (no logout). */
  end(): void {
    this.sock.end(undefined);
  }

  /**
   * Ends the socket, waits until Baileys reports the close and its creds are written. Tests tear
   * down with this, not `end()`: a socket still closing when the simulator stops leaves timers
   * behind in the jest worker, and a creds write still running when the test removes the auth
   * folder makes the removal fail.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#open || this.closes.length === 0) {
      const before = this.closes.length;
      this.end();
      await waitUntil(() => this.closes.length > before, timeoutMs, 'connection close');
    }
    // A test that removes the auth folder next must not race a write into it (ENOTEMPTY).
    await this.#saving;
  }

  #status(id: string, status: number): void {
    this.statuses.set(id, Math.max(status, this.statuses.get(id) ?? 0));
  }
}

/**
 * The whole first-time flow: a fresh client shows a QR, `user`'s phone scans it, the client
 * gets the 515 restart, and a second client on the same auth state logs in and opens.
 */
export async function pairByQr(
  sim: Simulator,
  user: SimUser,
  options: ClientOptions,
): Promise<BaileysClient> {
  const first = await BaileysClient.start(sim, options);
  await user.scanQr(await first.waitForQr());
  const close = await first.waitForClose();
  if (close.statusCode !== 515)
    throw new Error(`expected the 515 restart after pairing, got ${close.statusCode}`);
  const client = await BaileysClient.start(sim, options);
  await client.waitForOpen();
  return client;
}
