/**
 * The workers' status events (`wa.<clinic>.<channel>.status`, contract/schemas/status.v1.json).
 *
 * - Live: one core subscription to `wa.*.*.status`; the latest valid report of each
 *   worker (pod incarnation, `worker` = WA_LEASE_HOLDER = `<pod>_<uid>`) is kept.
 * - After a start or a leader change the operator has heard nothing yet, so the first time
 *   it needs a channel's status it reads the last one stored in the clinic's JetStream
 *   stream (the worker publishes status through JetStream). Without that, every
 *   channel would fall back to Pending on each operator restart.
 * - Order: by `at`, then by `seq` (events of the same millisecond). `seq` alone cannot
 *   order them: a restarted container (same pod, same `worker`) starts `seq` again.
 */
import { LRUCache } from 'lru-cache';
import type { JetStreamManager, NatsConnection, Subscription } from 'nats';
import {
  ALL_STATUS_SUBJECTS,
  LOGGED_OUT_BY_COMMAND,
  lastChannelStatus,
  parseStatusReport,
  type StatusEvent,
} from '../../../contract/index.ts';

export class StatusReports {
  /**
   * channel (`clinic/channel`) → worker → its latest report. Bounded: pods come and go; the
   * few most recently reporting workers of a channel are kept.
   */
  private readonly latest = new Map<string, LRUCache<string, StatusEvent>>();
  /** Channels whose stored status was read from JetStream already. */
  private readonly bootstrapped = new Set<string>();
  /**
   * channel → its last link event, from any of its workers: unlinked by a `logout` command, or
   * Connected. It outlives the worker that reported it (a worker exits after a logout, and the
   * next one reports an unlinked Pending), so a deletion whose logout reply was lost can still
   * learn that the logout happened.
   */
  private readonly lastLink = new Map<string, { at: number; loggedOut: boolean }>();
  private readonly nc: () => NatsConnection | undefined;
  private readonly timeoutMs: number;
  private jsm: Promise<JetStreamManager> | undefined;
  private sub: Subscription | undefined;

  /** `nc` is undefined until the first connection (NATS being down must not stop the operator). */
  constructor(nc: () => NatsConnection | undefined, timeoutMs = 5_000) {
    this.nc = nc;
    this.timeoutMs = timeoutMs;
  }

  /** Subscribes (call once connected); `onReport` is called for every new report (to enqueue its channel). */
  start(onReport: (report: StatusEvent) => void): void {
    this.sub = this.nc()!.subscribe(ALL_STATUS_SUBJECTS, {
      callback: (_err, msg) => {
        const report = this.accept(parseStatusReport(msg.data));
        if (report) onReport(report);
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  /** The latest report of this worker of the channel. */
  get(clinicId: string, channelId: string, worker: string | undefined): StatusEvent | undefined {
    return worker === undefined ? undefined : this.latest.get(`${clinicId}/${channelId}`)?.peek(worker);
  }

  /**
   * Reads the channel's last stored status from JetStream, once per channel. Throws if NATS
   * cannot answer (the caller then does not write a status it cannot know).
   */
  async bootstrap(clinicId: string, channelId: string): Promise<void> {
    const key = `${clinicId}/${channelId}`;
    if (this.bootstrapped.has(key)) return;
    const nc = this.nc();
    if (!nc || nc.isClosed()) throw new Error('NATS is not connected');
    this.jsm ??= nc.jetstreamManager({ timeout: this.timeoutMs }).catch((err: unknown) => {
      this.jsm = undefined;
      throw err;
    });
    // Undefined when nothing was ever reported (no stream or no message yet).
    this.accept(await lastChannelStatus(await this.jsm, clinicId, channelId));
    this.bootstrapped.add(key);
  }

  /** Whether a worker of the channel reported its device unlinked by a `logout` command, and none linked one since. */
  loggedOutByCommand(clinicId: string, channelId: string): boolean {
    return this.lastLink.get(`${clinicId}/${channelId}`)?.loggedOut ?? false;
  }

  /** Forgets a deleted channel. */
  forget(clinicId: string, channelId: string): void {
    this.latest.delete(`${clinicId}/${channelId}`);
    this.bootstrapped.delete(`${clinicId}/${channelId}`);
    this.lastLink.delete(`${clinicId}/${channelId}`);
  }

  /** Keeps a valid report if it is the newest of its worker; returns it then. */
  private accept(r: StatusEvent | undefined): StatusEvent | undefined {
    if (r === undefined) return undefined;
    const key = `${r.clinicId}/${r.channelId}`;
    let byWorker = this.latest.get(key);
    if (!byWorker) this.latest.set(key, (byWorker = new LRUCache({ max: 3 })));
    const before = byWorker.peek(r.worker);
    if (before && !isNewer(r, before)) return undefined;
    byWorker.set(r.worker, r);
    this.noteLink(key, r);
    return r;
  }

  private noteLink(key: string, r: StatusEvent): void {
    const loggedOut = r.reason === LOGGED_OUT_BY_COMMAND;
    if (!loggedOut && r.phase !== 'Connected') return;
    const at = Date.parse(r.at);
    const last = this.lastLink.get(key);
    if (!last || at >= last.at) this.lastLink.set(key, { at, loggedOut });
  }
}

/** Whether report `r` is newer than `before` of the same worker. */
export function isNewer(r: StatusEvent, before: StatusEvent): boolean {
  const at = Date.parse(r.at) - Date.parse(before.at);
  return at > 0 || (at === 0 && r.seq > before.seq);
}
