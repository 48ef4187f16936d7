/**
 * The last status each worker stored in its clinic's JetStream stream (it publishes status
 * through JetStream). The operator reads it after a start or a leader change, before it has
 * heard any live report; `wa status` reads it to show channels whose workers are down.
 *
 * Only two read-only calls are used, stream info filtered to the status subjects and a get of
 * a subject's last message, so a clinic backend's credential is enough (docs/security.md).
 */
import type { JetStreamManager } from 'nats';
import type { StatusEvent } from './generated/payloads.ts';
import { classifyNatsError } from './nats-errors.ts';
import { ALL_STATUS_SUBJECTS, CLINIC_STREAM_PREFIX, channelSubjects, clinicStreamName } from './subjects.ts';
import { validatePayload } from './validate.ts';

/** A status report's bytes, checked against the schema; anything else (not JSON, not valid) is undefined. */
export function parseStatusReport(data: Uint8Array | undefined): StatusEvent | undefined {
  if (data === undefined) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  const checked = validatePayload('status', body);
  return checked.ok ? checked.value : undefined;
}

/** The last message on `subject` in `stream`; undefined when the stream or the message does not exist. */
async function lastMessage(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<Uint8Array | undefined> {
  try {
    return (await jsm.streams.getMessage(stream, { last_by_subj: subject })).data;
  } catch (err) {
    if (classifyNatsError(err) === 'not-found') return undefined;
    throw err;
  }
}

/** The channel's last stored status report, or undefined when it never reported. */
export async function lastChannelStatus(
  jsm: JetStreamManager,
  clinicId: string,
  channelId: string,
): Promise<StatusEvent | undefined> {
  const subject = channelSubjects(clinicId, channelId).status;
  return parseStatusReport(await lastMessage(jsm, clinicStreamName(clinicId), subject));
}

/** The last stored status of every channel in a clinic's stream (none when the stream does not exist). */
export async function lastStatusesOfStream(jsm: JetStreamManager, stream: string): Promise<StatusEvent[]> {
  let subjects: string[];
  try {
    const info = await jsm.streams.info(stream, { subjects_filter: ALL_STATUS_SUBJECTS });
    subjects = Object.keys(info.state.subjects ?? {});
  } catch (err) {
    if (classifyNatsError(err) === 'not-found') return [];
    throw err;
  }
  const statuses: StatusEvent[] = [];
  for (const subject of subjects) {
    const status = parseStatusReport(await lastMessage(jsm, stream, subject));
    if (status) statuses.push(status);
  }
  return statuses;
}

/** The names of every clinic stream this connection may list. */
export async function clinicStreamNames(jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = [];
  for await (const s of jsm.streams.list())
    if (s.config.name.startsWith(CLINIC_STREAM_PREFIX)) names.push(s.config.name);
  return names;
}
