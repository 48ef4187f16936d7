/**
 * `wa status [clinic]`: the latest status of every channel, read from JetStream, so it works
 * even while workers are down.
 *
 * It only reads: stream info filtered to the status subjects (which channels exist), then the
 * last message of each status subject. No consumer is created, so it works with a clinic's
 * backend credential, whose JetStream access is exactly these two read-only calls under the
 * clinic's API prefix (`--js-api-prefix` with `CLINIC_JS_API_PREFIX`, docs/security.md).
 */
import type { NatsConnection } from 'nats';
import {
  ALL_STATUS_SUBJECTS,
  clinicStreamName,
  validatePayload,
  type StatusEvent,
} from '../../contract/index.ts';
import { explainNatsError } from '../connection.ts';

const NO_SUCH_STREAM = 10059;

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
    const what = `the status of ${clinicId ?? stream}`;
    let subjects: string[];
    try {
      const info = await jsm.streams.info(stream, { subjects_filter: ALL_STATUS_SUBJECTS });
      subjects = Object.keys(info.state.subjects ?? {});
    } catch (err) {
      if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === NO_SUCH_STREAM) continue;
      throw explainNatsError(err, what);
    }
    for (const subject of subjects) {
      let message;
      try {
        message = await jsm.streams.getMessage(stream, { last_by_subj: subject });
      } catch (err) {
        throw explainNatsError(err, what);
      }
      const checked = validatePayload('status', message.json());
      if (checked.ok) out.push(checked.value);
    }
  }
  return out.sort((a, b) => `${a.clinicId}/${a.channelId}`.localeCompare(`${b.clinicId}/${b.channelId}`));
}
