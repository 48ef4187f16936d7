/**
 * Decides whether a connected session has gone "deaf": the WebSocket is up (so Baileys' own
 * keep-alive sees nothing wrong) but WhatsApp no longer talks to us. Pure bookkeeping over
 * timestamps the supervisor records; `check(now)` is called on a timer.
 *
 * Signals:
 * - no frame at all from the server for `silentAfterMs` (Baileys' keep-alive pings normally
 *   produce a frame every ~30 s, so silence means the connection is dead in a way the
 *   keep-alive missed);
 * - a message we sent not acknowledged by the server within `sendAckTimeoutMs`;
 * - `maxSelfCheckFailures` application-level self-checks (an IQ round trip) failed in a row.
 */

export interface DeafDetectorOptions {
  silentAfterMs: number;
  sendAckTimeoutMs: number;
  maxSelfCheckFailures: number;
}

export type DeafReason = 'silent' | 'send-not-acked' | 'self-check-failed';

export class DeafDetector {
  private readonly opts: DeafDetectorOptions;
  private lastFrameAt: number;
  private readonly unacked = new Map<string, number>();
  private selfCheckFailures = 0;

  constructor(opts: DeafDetectorOptions, now: number) {
    this.opts = opts;
    this.lastFrameAt = now;
  }

  frameReceived(now: number): void {
    this.lastFrameAt = now;
  }

  messageSent(id: string, now: number): void {
    this.unacked.set(id, now);
  }

  /** The server acknowledged (or rejected) a message: either way it heard us. */
  messageAcked(id: string): void {
    this.unacked.delete(id);
  }

  selfCheck(ok: boolean): void {
    this.selfCheckFailures = ok ? 0 : this.selfCheckFailures + 1;
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  check(now: number): DeafReason | undefined {
    if (now - this.lastFrameAt >= this.opts.silentAfterMs) return 'silent';
    for (const sentAt of this.unacked.values()) {
      if (now - sentAt >= this.opts.sendAckTimeoutMs) return 'send-not-acked';
    }
    if (this.selfCheckFailures >= this.opts.maxSelfCheckFailures) return 'self-check-failed';
    return undefined;
  }
}
