/**
 * `wa status [clinic]`: the latest status of every channel, read from JetStream
 * (the last status message per subject), so it works even while workers are down.
 */
import { DeliverPolicy, type NatsConnection } from 'nats';
import { clinicStreamName, validatePayload, type StatusEvent } from '../../contract/index.ts';
import { explainNatsError } from '../connection.ts';

export async function latestStatuses(nc: NatsConnection, clinicId?: string): Promise<StatusEvent[]> {
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  let streams: string[];
  if (clinicId) {
    streams = [clinicStreamName(clinicId)];
  } else {
    streams = [];
    try {
      for await (const s of jsm.streams.list())
        if (s.config.name.startsWith('WA_')) streams.push(s.config.name);
    } catch (err) {
      throw explainNatsError(err, 'listing the clinics (pass a clinic id)');
    }
  }
  const out: StatusEvent[] = [];
  for (const stream of streams) {
    let messages: number;
    try {
      messages = (await jsm.streams.info(stream)).state.messages;
    } catch (err) {
      if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === 10059) continue; // no such stream yet
      throw explainNatsError(err, `the status of ${clinicId ?? stream}`);
    }
    if (messages === 0) continue;
    const consumer = await nc.jetstream().consumers.get(stream, {
      filterSubjects: ['wa.*.*.status'],
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const pending = (await consumer.info()).num_pending;
    if (pending === 0) continue;
    const iter = await consumer.consume();
    for await (const m of iter) {
      const checked = validatePayload('status', m.json());
      if (checked.ok) out.push(checked.value);
      if (m.info.pending === 0) break;
    }
  }
  return out.sort((a, b) => `${a.clinicId}/${a.channelId}`.localeCompare(`${b.clinicId}/${b.channelId}`));
}
