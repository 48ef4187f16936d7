/**
 * The everyday actions as `wa` commands: read, presence, react, edit, delete, check and
 * `group info`. Each builds the command body of its contract schema and prints the reply; the
 * worker checks the body (an invalid one comes back as InvalidCommand naming the field).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import type { CommandReply, CommandVerb } from '../../contract/index.ts';
import { table } from '../format.ts';
import { parseTarget } from '../target.ts';
import { printReply, requestCommand } from './request.ts';

export interface VerbContext {
  withNats<T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T>;
  json(): boolean;
  timeoutMs(): number;
}

/** A message named on the command line: `--participant` (groups), `--from-me`. */
function messageKey(id: string, opts: { fromMe?: boolean; participant?: string }): Record<string, unknown> {
  return {
    id,
    ...(opts.fromMe ? { fromMe: true } : {}),
    ...(opts.participant ? { participant: opts.participant } : {}),
  };
}

const sentLine = (what: string) => (r: Record<string, unknown>) =>
  `${what}${r.messageId ? ` (message id ${String(r.messageId)})` : ''}${r.replayed ? ', replayed: it was sent before with this key' : ''}`;

export function addVerbCommands(program: Command, ctx: VerbContext): void {
  const run = async (
    targetText: string,
    verb: CommandVerb,
    body: Record<string, unknown>,
    success: (r: Record<string, unknown>) => string,
  ): Promise<void> => {
    const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
    const reply: CommandReply = await ctx.withNats((nc) =>
      requestCommand(nc, target, verb, body, ctx.timeoutMs()),
    );
    printReply(reply, ctx.json(), success);
  };

  program
    .command('read')
    .description('mark messages of a chat read (the sender sees blue ticks)')
    .argument('<clinic/channel>')
    .argument('<chat>', 'E.164 number, user JID, LID or group JID')
    .argument('<id...>', 'message ids')
    .option('--participant <jid>', 'in a group: who sent the messages')
    .action(async (target: string, chat: string, ids: string[], opts: { participant?: string }) =>
      run(
        target,
        'read',
        {
          chat,
          messages: ids.map((id) => (opts.participant ? { id, participant: opts.participant } : { id })),
        },
        (r) => `marked ${String(r.read)} message(s) read in ${String(r.chat)}`,
      ),
    );

  program
    .command('presence')
    .description('show typing (composing), recording or paused in a chat; or set available/unavailable')
    .argument('<clinic/channel>')
    .argument('<state>', 'composing, recording, paused, available or unavailable')
    .argument('[chat]', 'the chat (for composing, recording, paused)')
    .action(async (target: string, state: string, chat?: string) =>
      run(target, 'presence', { state, ...(chat ? { chat } : {}) }, (r) =>
        r.chat ? `${String(r.state)} in ${String(r.chat)}` : String(r.state),
      ),
    );

  program
    .command('react')
    .description('react to a message with an emoji ("" removes the reaction)')
    .argument('<clinic/channel>')
    .argument('<chat>')
    .argument('<id>', 'the message reacted to')
    .argument('<emoji>')
    .option('--from-me', 'the message is one this channel sent', false)
    .option('--participant <jid>', 'in a group: who sent the message')
    .option('--idempotency-key <key>', 'retrying with the same key never sends twice (default: a new key)')
    .action(
      async (
        target: string,
        chat: string,
        id: string,
        emoji: string,
        opts: { fromMe: boolean; participant?: string; idempotencyKey?: string },
      ) =>
        run(
          target,
          'react',
          { idempotencyKey: opts.idempotencyKey ?? randomUUID(), chat, message: messageKey(id, opts), emoji },
          sentLine(emoji ? `reacted ${emoji}` : 'reaction removed'),
        ),
    );

  program
    .command('edit')
    .description('replace the text of a message this channel sent')
    .argument('<clinic/channel>')
    .argument('<chat>')
    .argument('<id>', 'the message to edit')
    .argument('<text>', 'the new text')
    .option('--idempotency-key <key>', 'retrying with the same key never sends twice (default: a new key)')
    .action(
      async (
        target: string,
        chat: string,
        messageId: string,
        text: string,
        opts: { idempotencyKey?: string },
      ) =>
        run(
          target,
          'edit',
          { idempotencyKey: opts.idempotencyKey ?? randomUUID(), chat, messageId, text },
          sentLine('edited'),
        ),
    );

  program
    .command('delete')
    .description('delete a message for everyone (by default one this channel sent)')
    .argument('<clinic/channel>')
    .argument('<chat>')
    .argument('<id>', 'the message to delete')
    .option('--participant <jid>', "a group admin deleting someone else's message: its sender")
    .option('--idempotency-key <key>', 'retrying with the same key never sends twice (default: a new key)')
    .action(
      async (
        target: string,
        chat: string,
        id: string,
        opts: { participant?: string; idempotencyKey?: string },
      ) =>
        run(
          target,
          'delete',
          {
            idempotencyKey: opts.idempotencyKey ?? randomUUID(),
            chat,
            message: messageKey(id, { fromMe: !opts.participant, participant: opts.participant }),
          },
          sentLine('deleted for everyone'),
        ),
    );

  program
    .command('check')
    .description('which numbers are on WhatsApp, with their JID and LID')
    .argument('<clinic/channel>')
    .argument('<number...>', 'E.164 numbers')
    .action(async (target: string, numbers: string[]) =>
      run(target, 'check', { numbers }, (r) =>
        table(
          ['NUMBER', 'ON WHATSAPP', 'JID', 'LID'],
          (r.results as { number: string; exists: boolean; jid?: string; lid?: string }[]).map((c) => [
            c.number,
            c.exists ? 'yes' : 'no',
            c.jid ?? '',
            c.lid ?? '',
          ]),
        ),
      ),
    );

  const group = program.command('group').description('WhatsApp groups the channel is in');
  group
    .command('info')
    .description("a group's subject and participants")
    .argument('<clinic/channel>')
    .argument('<group>', 'the group JID (…@g.us)')
    .action(async (target: string, jid: string) =>
      run(target, 'group-info', { group: jid }, (r) => {
        const participants = r.participants as { jid: string; lid?: string; admin?: string }[];
        return [
          `${String(r.subject)} (${String(r.jid)}), ${participants.length} participants`,
          table(
            ['PARTICIPANT', 'LID', 'ROLE'],
            participants.map((p) => [p.jid, p.lid ?? '', p.admin ?? '']),
          ),
        ].join('\n');
      }),
    );
}
