/**
 * Watches one connected socket for deafness: the WebSocket is up, so Baileys' keep-alive sees
 * nothing wrong, but WhatsApp no longer hears or answers us. Every `selfCheckIntervalMs` it makes
 * an application-level round trip (the ping Baileys' keep-alive uses) and asks the deaf detector
 * (deaf-detector.ts) whether the session is deaf; if so it calls `onDeaf` once and stops.
 *
 * One instance per opened socket: the supervisor starts it on `connection: 'open'` and stops it
 * when that socket closes, so a late timer of an old socket can never recycle a new one.
 */
import type { Logger } from 'pino';
import { DeafDetector, type DeafDetectorOptions, type DeafReason } from './deaf-detector.ts';
import type { Clock, SessionSocket } from './ports.ts';

export interface LivenessOptions {
  deaf: DeafDetectorOptions;
  selfCheckIntervalMs: number;
  selfCheckTimeoutMs: number;
}

export interface LivenessDeps {
  socket: Pick<SessionSocket, 'query'>;
  options: LivenessOptions;
  clock: Clock;
  logger: Logger;
  onDeaf: (reason: DeafReason) => void;
}

export class LivenessMonitor {
  private readonly deps: LivenessDeps;
  private readonly detector: DeafDetector;
  private timer: unknown;
  private stopped = false;

  constructor(deps: LivenessDeps) {
    this.deps = deps;
    this.detector = new DeafDetector(deps.options.deaf, deps.clock.now());
    this.schedule();
  }

  /** Any frame from the server. */
  frameReceived(): void {
    this.detector.frameReceived(this.deps.clock.now());
  }

  /** A message left; the server must ack it within the detector's timeout. */
  messageSent(id: string): void {
    this.detector.messageSent(id, this.deps.clock.now());
  }

  /** The server acknowledged (or rejected) a sent message. */
  messageAcked(id: string): void {
    this.detector.messageAcked(id);
  }

  stop(): void {
    this.stopped = true;
    this.deps.clock.clearTimeout(this.timer);
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      if (this.stopped) return;
      void this.selfCheck().then(() => {
        if (this.stopped) return;
        const deaf = this.detector.check(this.deps.clock.now());
        if (!deaf) return this.schedule();
        this.deps.logger.warn({ deaf }, 'session is deaf; recycling the socket');
        this.stop();
        this.deps.onDeaf(deaf);
      });
    }, this.deps.options.selfCheckIntervalMs);
  }

  private async selfCheck(): Promise<void> {
    try {
      await this.deps.socket.query(
        {
          tag: 'iq',
          attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' },
          content: [{ tag: 'ping', attrs: {} }],
        },
        this.deps.options.selfCheckTimeoutMs,
      );
      this.detector.selfCheck(true);
    } catch (err) {
      this.deps.logger.warn({ err }, 'self-check failed');
      this.detector.selfCheck(false);
    }
  }
}
