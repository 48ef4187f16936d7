/**
 * Holds every outgoing WhatsApp frame until the state changes made before it are durable.
 *
 * With group commit (auth-store/group-commit.ts) a key transaction returns before its journal
 * record is written, so Baileys may already want to send the delivery receipt of a message
 * whose ratchet state is still in flight to S3. Nothing leaves through the socket before then:
 * each frame waits for the `whenDurable()` of the moment it was sent, in order (the frames are
 * already encrypted by the Noise transport with a counter, so they must go out in the order
 * they were made). When nothing is pending a frame goes out at once.
 *
 * A held frame is reported as sent to Baileys at once (see below). If a commit fails, that frame
 * and every later one are dropped, later sends are refused, and `onFailure` is told, so the
 * socket is closed: WhatsApp then redelivers what was not acknowledged, and it decrypts again
 * from the durable state.
 *
 * The hook is the `ws` WebSocket Baileys opens inside makeWASocket (`sock.ws.socket`, created
 * synchronously by `ws.connect()`); Baileys' client calls its `send` for every frame.
 */
type Send = (data: unknown, cb?: (err?: Error) => void) => void;

export interface DurableFramesOptions {
  whenDurable: () => Promise<void> | undefined;
  onFailure: (err: unknown) => void;
}

/** Wraps the raw socket's send; throws if Baileys' client has no open raw socket (a Baileys change). */
export function holdFramesUntilDurable(ws: unknown, options: DurableFramesOptions): void {
  const raw = (ws as { socket?: { send?: Send } | null }).socket;
  if (!raw || typeof raw.send !== 'function') {
    throw new Error('Baileys socket has no raw WebSocket to hold frames on (has Baileys changed?)');
  }
  const send = raw.send.bind(raw) as Send;
  let queued = 0;
  let tail: Promise<void> = Promise.resolve();
  let failure: unknown;
  raw.send = (data, cb) => {
    if (failure !== undefined) return cb?.(failure as Error);
    const barrier = options.whenDurable();
    if (!barrier && queued === 0) return send(data, cb);
    queued++;
    // Baileys awaits this callback inside its message mutex (the receipt is sent before the next
    // message is handled): answer at once, so the next message decrypts while this frame waits.
    // If the commit fails the frame never leaves, and the socket is closed (onFailure).
    cb?.();
    tail = tail
      .then(() => barrier)
      .then(
        () => {
          if (failure !== undefined) return;
          try {
            send(data); // a socket closed meanwhile drops it (nothing was acknowledged)
          } catch (err) {
            options.onFailure(err);
          }
        },
        (err: unknown) => {
          if (failure === undefined) {
            failure = err instanceof Error ? err : new Error(String(err));
            options.onFailure(err);
          }
        },
      )
      .finally(() => queued--);
  };
}
