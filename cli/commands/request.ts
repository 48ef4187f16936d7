/** Sends a command to a channel's worker and returns its typed reply. */
import type { NatsConnection } from 'nats';
import {
  channelSubjects,
  validatePayload,
  type CommandReply,
  type CommandVerb,
} from '../../contract/index.ts';
import { CliError, explainNatsError } from '../connection.ts';

export async function requestCommand(
  nc: NatsConnection,
  target: { clinicId: string; channelId: string },
  verb: CommandVerb,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<CommandReply> {
  const subject = channelSubjects(target.clinicId, target.channelId).command(verb);
  const what = `${target.clinicId}/${target.channelId}`;
  let reply;
  try {
    reply = await nc.request(subject, new TextEncoder().encode(JSON.stringify({ v: 1, ...body })), {
      timeout: timeoutMs,
    });
  } catch (err) {
    throw explainNatsError(err, what);
  }
  const checked = validatePayload('command-reply', reply.json());
  if (!checked.ok) throw new CliError(`the worker of ${what} sent a reply this CLI does not understand`);
  return checked.value;
}

/** Prints a reply; an error reply becomes a CliError (exit 1) with the worker's code. */
export function printReply(
  reply: CommandReply,
  json: boolean,
  success: (result: Record<string, unknown>) => string,
): void {
  if (json) {
    console.log(JSON.stringify(reply));
    if (!reply.ok) process.exitCode = 1;
    return;
  }
  if (!reply.ok) {
    const retry = reply.error.retryAfterSeconds;
    throw new CliError(
      `${reply.error.code}: ${reply.error.message}${retry ? ` (retry in ${retry} s with the same --idempotency-key)` : ''}`,
    );
  }
  console.log(success(reply.result as Record<string, unknown>));
}
