/**
 * While a socket is up, JetStream must take events. If it stops (stalled publishes, open
 * breaker, NATS disconnected past the stall time, outbox above high water), the socket is
 * closed so nothing more is acknowledged to WhatsApp; the supervisor reconnects once the sink is
 * healthy again (close-decisions.ts, `wait-then-reconnect`). The outbox's own pressure signal
 * closes the socket at once (main.ts hands it to createSink); this poll catches the stalls that
 * send no signal.
 */
export interface WatchedSession {
  readonly hasSocket: boolean;
  sinkUnavailable(): void;
}

export function watchEventSink(
  session: WatchedSession,
  sink: { stalled(): boolean },
  intervalMs = 1_000,
): () => void {
  const timer = setInterval(() => {
    if (session.hasSocket && sink.stalled()) session.sinkUnavailable();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
