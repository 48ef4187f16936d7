/**
 * `wa status [clinic]`: the latest status of every channel, read from JetStream, so it works
 * even while workers are down.
 *
 * It only reads (contract/status-history.ts): stream info filtered to the status subjects
 * (which channels exist), then the last message of each status subject. No consumer is
 * created, so it works with a clinic's backend credential, whose JetStream access is exactly
 * these two read-only calls under the clinic's API prefix (`--js-api-prefix` with
 * `CLINIC_JS_API_PREFIX`, docs/security.md).
 */
import type { NatsConnection } from 'nats';
import {
  clinicStreamName,
  clinicStreamNames,
  lastStatusesOfStream,
  type StatusEvent,
} from '../../contract/index.ts';
import { explainNatsError } from '../connection.ts';

export async function latestStatuses(
  nc: NatsConnection,
  clinicId?: string,
  apiPrefix?: string,
): Promise<StatusEvent[]> {
  const jsm = await nc.jetstreamManager({ checkAPI: false, ...(apiPrefix ? { apiPrefix } : {}) });
  let streams: string[];
  if (clinicId) {
    streams = [clinicStreamName(clinicId)];
  } else {
    try {
      streams = await clinicStreamNames(jsm);
    } catch (err) {
      throw explainNatsError(err, 'listing the clinics (pass a clinic id)');
    }
  }
  const out: StatusEvent[] = [];
  for (const stream of streams) {
    try {
      out.push(...(await lastStatusesOfStream(jsm, stream)));
    } catch (err) {
      throw explainNatsError(err, `the status of ${clinicId ?? stream}`);
    }
  }
  return out.sort((a, b) => `${a.clinicId}/${a.channelId}`.localeCompare(`${b.clinicId}/${b.channelId}`));
}
