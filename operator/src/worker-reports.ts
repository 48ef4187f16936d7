/**
 * The workers' status events, from NATS (`wa.*.*.status`). Only the latest report of
 * each channel is kept; the reconciler ignores reports from pods that are not the
 * channel's current pod, so a terminating pod cannot overwrite the new one's status.
 */
import type { NatsConnection, Subscription } from 'nats';
import { ALL_STATUS_SUBJECTS, validatePayload, type StatusEvent } from '../../contract/index.ts';

export class WorkerReports {
  /** channel → worker (pod) → its latest report. */
  private readonly latest = new Map<string, Map<string, StatusEvent>>();
  private sub: Subscription | undefined;

  start(nc: NatsConnection, onReport: (report: StatusEvent) => void): void {
    this.sub = nc.subscribe(ALL_STATUS_SUBJECTS, {
      callback: (_err, msg) => {
        let body: unknown;
        try {
          body = msg.json();
        } catch {
          return;
        }
        const checked = validatePayload('status', body);
        if (!checked.ok) return;
        const r = checked.value;
        const key = `${r.clinicId}/${r.channelId}`;
        let byWorker = this.latest.get(key);
        if (!byWorker) this.latest.set(key, (byWorker = new Map()));
        const before = byWorker.get(r.worker);
        // Within one worker, seq orders events (JetStream redelivery or reordering cannot go back in time).
        if (before && before.seq >= r.seq) return;
        byWorker.set(r.worker, r);
        // Bounded: pods come and go; keep the few most recent workers of a channel.
        if (byWorker.size > 4) byWorker.delete(byWorker.keys().next().value!);
        onReport(r);
      },
    });
  }

  /** The latest report of this worker (pod) of the channel. */
  get(clinicId: string, channelId: string, worker: string | undefined): StatusEvent | undefined {
    return worker === undefined ? undefined : this.latest.get(`${clinicId}/${channelId}`)?.get(worker);
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}
