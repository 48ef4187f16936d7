#!/usr/bin/env node
/**
 * wa: the command-line tool for WhatsApp channels, talking to the workers over NATS
 * exactly as a clinic backend does (same subjects, same payloads, same permissions).
 */
import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import {
  channelSubjects,
  classifyNatsError,
  CLINIC_JS_API_PREFIX,
  clinicWildcard,
  parseSubject,
} from '../contract/index.ts';
import { CliError, connectNats, type ConnectionOptions } from './connection.ts';
import { eventLine, STATUS_HEADERS, statusRow, table } from './format.ts';
import { nextPairingEvent, renderQr } from './commands/qr.ts';
import { printReply, requestCommand } from './commands/request.ts';
import { latestStatuses } from './commands/status.ts';
import { bootstrapToFolder, type BootstrapOptions } from './commands/nats-bootstrap.ts';
import { eraseContact, exportContact } from './commands/contact.ts';
import { getMedia, MEDIA_KINDS, sendFile } from './commands/media.ts';
import { parseTarget } from './target.ts';
import { addVerbCommands } from './commands/verbs.ts';
import { stateCommands } from './commands/state/commands.ts';

const program = new Command('wa')
  .description('Watch and drive WhatsApp channels over NATS.')
  .addOption(new Option('-s, --server <url>', 'NATS server').env('NATS_URL').default('nats://127.0.0.1:4222'))
  .addOption(new Option('--creds <file>', 'NATS credentials file').env('NATS_CREDS_FILE'))
  .addOption(new Option('--user <name>', 'NATS user (user/password authorization)').env('NATS_USER'))
  .addOption(new Option('--password <password>', 'NATS password').env('NATS_PASSWORD'))
  .addOption(
    new Option(
      '--js-api-prefix <prefix>',
      `JetStream API prefix (${CLINIC_JS_API_PREFIX} with a clinic credential; docs/security.md)`,
    ).env('NATS_JS_API_PREFIX'),
  )
  .option('--json', 'print JSON instead of text', false)
  .option('--timeout <seconds>', 'how long to wait for an answer', '10')
  .showHelpAfterError();

interface GlobalOptions extends ConnectionOptions {
  jsApiPrefix?: string;
  json: boolean;
  timeout: string;
}
const globals = () => program.opts<GlobalOptions>();
const timeoutMs = () => Math.max(1, Number(globals().timeout) || 10) * 1000;

/** Connects, runs, and always closes the connection. */
async function withNats<T>(fn: (nc: Awaited<ReturnType<typeof connectNats>>) => Promise<T>): Promise<T> {
  const nc = await connectNats(globals());
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

program
  .command('status')
  .description('table of channels and their latest phase (from JetStream)')
  .argument('[clinic]', 'only this clinic (needed with clinic credentials)')
  .action(async (clinic?: string) => {
    const clinicId = clinic === undefined ? undefined : parseTarget(clinic, false).clinicId;
    const statuses = await withNats((nc) => latestStatuses(nc, clinicId, globals().jsApiPrefix));
    if (globals().json) return console.log(JSON.stringify(statuses));
    if (statuses.length === 0)
      return console.log(
        clinicId ? `no channels of ${clinicId} have reported yet` : 'no channels have reported yet',
      );
    console.log(table(STATUS_HEADERS, statuses.map(statusRow)));
  });

program
  .command('qr')
  .description('show the next QR code of a channel in the terminal, or its pairing code')
  .argument('<clinic/channel>')
  .option('--request', 'ask the worker to start pairing first', false)
  .option('--phone <e164>', 'with --request: ask for a pairing code for this number instead of a QR')
  .action(async (targetText: string, opts: { request: boolean; phone?: string }) => {
    const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
    await withNats(async (nc) => {
      const next = nextPairingEvent(nc, target, Math.max(timeoutMs(), 60_000));
      // QR codes are not stored (they expire): only those published from now on can be shown.
      await nc.flush();
      console.error(
        `waiting for the next QR code or pairing code of ${target.clinicId}/${target.channelId}…`,
      );
      if (opts.request) {
        const body = opts.phone ? { mode: 'code', phoneNumber: opts.phone } : { mode: 'qr' };
        const reply = await requestCommand(nc, target, 'pair', body, timeoutMs());
        if (!reply.ok) throw new CliError(`${reply.error.code}: ${reply.error.message}`);
      }
      const event = await next;
      if (globals().json) return console.log(JSON.stringify(event));
      if (event.type === 'code') {
        console.log(`Pairing code for +${event.phoneNumber}: ${event.code}`);
        console.log('On the phone: WhatsApp → Linked devices → Link with phone number.');
      } else {
        console.log(await renderQr(event.qr!));
        console.log(
          `QR ${event.attempt}/${event.maxAttempts} for ${target.clinicId}/${target.channelId}: scan it in WhatsApp → Linked devices.`,
        );
      }
    });
  });

program
  .command('events')
  .description('tail the events of a clinic or of one channel (status, QR, messages, receipts)')
  .argument('<clinic[/channel]>')
  .option('--count <n>', 'stop after this many events')
  .action(async (targetText: string, opts: { count?: string }) => {
    const target = parseTarget(targetText, false);
    const subject = target.channelId
      ? channelSubjects(target.clinicId, target.channelId).all
      : clinicWildcard(target.clinicId);
    const limit = opts.count === undefined ? Infinity : Number(opts.count);
    if (!(limit > 0)) throw new CliError('--count must be a positive number', 2);
    const nc = await connectNats(globals());
    const stop = () => void nc.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let seen = 0;
    const sub = nc.subscribe(subject);
    // Only once the server has the subscription is "listening" true: nothing published after it is missed.
    await nc.flush();
    // On stderr, so that it never mixes with the events (JSON or text) on stdout.
    console.error(`listening on ${subject} (Ctrl-C to stop)`);
    try {
      for await (const m of sub) {
        if (parseSubject(m.subject)?.kind === 'cmd') continue; // other clients' requests, not events
        const payload = m.json<Record<string, unknown>>();
        console.log(
          globals().json ? JSON.stringify({ subject: m.subject, ...payload }) : eventLine(m.subject, payload),
        );
        if (++seen >= limit) break;
      }
    } catch (err) {
      // The server refused the subscription: the iterator ends with the permissions error.
      if (classifyNatsError(err) === 'permission-denied')
        throw new CliError(`no permission to read ${subject}: your NATS credentials do not cover it`);
      throw err;
    } finally {
      await nc.close().catch(() => undefined);
    }
  });

program
  .command('send')
  .description('send a text message, or a file (--file), from a channel')
  .argument('<clinic/channel>')
  .argument('<to>', 'E.164 phone number, user JID, LID or group JID')
  .argument('[text]', 'the text (not with --file: use --caption)')
  .option('--idempotency-key <key>', 'retrying with the same key never sends twice (default: a new key)')
  .option('--file <path>', 'send this file (image, video, audio, document or sticker)')
  .option(
    '--kind <kind>',
    `with --file: ${MEDIA_KINDS.join(', ')} (default: from the extension, else document)`,
  )
  .option('--caption <text>', 'with --file: the text under the image, video or document')
  .option('--ptt', 'with --file: send audio as a voice note', false)
  .option('--reply-to <id>', 'quote this message (a reply)')
  .option(
    '--reply-to-sender <jid>',
    'with --reply-to in a group: who sent it (default: the chat; --reply-to-mine for ours)',
  )
  .option('--reply-to-mine', 'with --reply-to: the quoted message is one this channel sent', false)
  .option('--mention <jid...>', 'mention these users (groups); write them as @<number> in the text')
  .addOption(
    new Option(
      '--when-rate-limited <what>',
      "when the channel's send pacing holds the message back: wait for its turn (raise --timeout to 60) or refuse at once",
    ).choices(['wait', 'refuse']),
  )
  .action(
    async (
      targetText: string,
      to: string,
      text: string | undefined,
      opts: {
        idempotencyKey?: string;
        file?: string;
        kind?: string;
        caption?: string;
        ptt: boolean;
        replyTo?: string;
        replyToSender?: string;
        replyToMine: boolean;
        mention?: string[];
        whenRateLimited?: string;
      },
    ) => {
      const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
      const idempotencyKey = opts.idempotencyKey ?? randomUUID();
      if (opts.file && text !== undefined)
        throw new CliError('give either <text> or --file (its text is --caption)');
      if (!opts.file && text === undefined) throw new CliError('missing <text> (or --file)');
      if (!opts.file && (opts.kind || opts.caption || opts.ptt))
        throw new CliError('--kind, --caption and --ptt go with --file');
      const reply = await withNats((nc) =>
        opts.file
          ? sendFile(
              nc,
              target,
              { to, path: opts.file, idempotencyKey, kind: opts.kind, caption: opts.caption, ptt: opts.ptt },
              timeoutMs(),
            )
          : requestCommand(
              nc,
              target,
              'send',
              {
                idempotencyKey,
                to,
                text,
                ...replyAndMentions(opts),
                ...(opts.whenRateLimited ? { whenRateLimited: opts.whenRateLimited } : {}),
              },
              timeoutMs(),
            ),
      );
      printReply(
        reply,
        globals().json,
        (r) =>
          `sent${r.messageId ? ` (message id ${String(r.messageId)})` : ''}${r.replayed ? ', replayed: it was sent before with this key' : ''}`,
      );
    },
  );

/** `--reply-to`/`--mention` as command-send fields. */
function replyAndMentions(opts: {
  replyTo?: string;
  replyToSender?: string;
  replyToMine: boolean;
  mention?: string[];
}): Record<string, unknown> {
  if (!opts.replyTo && (opts.replyToSender || opts.replyToMine))
    throw new CliError('--reply-to-sender and --reply-to-mine go with --reply-to');
  return {
    ...(opts.replyTo
      ? {
          replyTo: {
            id: opts.replyTo,
            ...(opts.replyToMine ? { fromMe: true } : {}),
            ...(opts.replyToSender ? { participant: opts.replyToSender } : {}),
          },
        }
      : {}),
    ...(opts.mention?.length ? { mentions: opts.mention } : {}),
  };
}

addVerbCommands(program, { withNats, json: () => globals().json, timeoutMs });

const media = program.command('media').description("a channel's stored attachments");
media
  .command('get')
  .description(
    'save a stored attachment (its ref from msg.in, e.g. in:<message id>) to a file, checked by SHA-256',
  )
  .argument('<clinic/channel>')
  .argument('<ref>', 'in:<message id> or up:<upload id>; a bare message id means in:<id>')
  .requiredOption('-o, --output <file>', 'where to write it')
  .action(async (targetText: string, refText: string, opts: { output: string }) => {
    const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
    const ref = /^(in|up):/.test(refText) ? refText : `in:${refText}`;
    const got = await withNats((nc) => getMedia(nc, target, ref, opts.output, timeoutMs()));
    if (globals().json) console.log(JSON.stringify({ ok: true, media: ref, output: opts.output, ...got }));
    else
      console.log(
        `${opts.output}: ${got.size} bytes, sha256 ${got.sha256}${got.mimetype ? `, ${got.mimetype}` : ''}`,
      );
  });
media
  .command('fetch')
  .description('download again an attachment whose download failed (media.state failed on msg.in)')
  .argument('<clinic/channel>')
  .argument('<message-id>')
  .action(async (targetText: string, messageId: string) => {
    const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
    const reply = await withNats((nc) =>
      requestCommand(nc, target, 'media-fetch', { messageId }, timeoutMs()),
    );
    printReply(
      reply,
      globals().json,
      (r) => `stored ${String(r.ref)}: ${String(r.size)} bytes, sha256 ${String(r.sha256)}`,
    );
  });

program
  .command('logout')
  .description('unlink the channel from WhatsApp (a new QR scan is needed afterwards)')
  .argument('<clinic/channel>')
  .requiredOption('--yes', 'confirm: the device is logged out of WhatsApp')
  .action(async (targetText: string) => {
    const target = parseTarget(targetText, true) as { clinicId: string; channelId: string };
    const reply = await withNats((nc) => requestCommand(nc, target, 'logout', {}, timeoutMs()));
    printReply(reply, globals().json, () => `${target.clinicId}/${target.channelId} logged out`);
  });

const contact = program
  .command('contact')
  .description("data-subject requests (LGPD/GDPR): one contact's stored events (platform credentials)");

interface ContactOptions {
  request: string;
  s3Bucket?: string;
  s3Prefix: string;
  s3Region: string;
  s3Endpoint?: string;
}

/** The workers' state bucket, whose sent-message records a request covers too (docs/operations.md). */
function stateOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--s3-bucket <bucket>', "the workers' state bucket: sent-message records too").env(
        'WA_S3_BUCKET',
      ),
    )
    .addOption(
      new Option('--s3-prefix <prefix>', "the workers' WA_S3_PREFIX").env('WA_S3_PREFIX').default('wa'),
    )
    .addOption(new Option('--s3-region <region>', 'S3 region').env('WA_S3_REGION').default('us-east-1'))
    .addOption(new Option('--s3-endpoint <url>', 'S3 endpoint (MinIO)').env('WA_S3_ENDPOINT'));
}

function contactRequest(targetText: string, who: string[], opts: ContactOptions) {
  const target = parseTarget(targetText, false);
  const state = opts.s3Bucket
    ? {
        bucket: opts.s3Bucket,
        prefix: opts.s3Prefix.replace(/^\/+|\/+$/g, ''),
        region: opts.s3Region,
        ...(opts.s3Endpoint ? { endpoint: opts.s3Endpoint } : {}),
      }
    : undefined;
  return { ...target, contact: who, request: opts.request, ...(state ? { state } : {}) };
}

stateOptions(contact.command('export'))
  .description('write every stored event of one contact of a clinic to a new file (JSON, mode 0600)')
  .argument('<clinic[/channel]>')
  .argument('<contact...>', 'E.164 number or JID (several: the same person under other JIDs)')
  .requiredOption('--out <file>', 'the file to write (must not exist)')
  .requiredOption('--request <ref>', "the request's reference (ticket), recorded on the audit trail")
  .action(async (targetText: string, who: string[], opts: ContactOptions & { out: string }) => {
    const done = await withNats((nc) => exportContact(nc, contactRequest(targetText, who, opts), opts.out));
    if (globals().json) return console.log(JSON.stringify(done));
    console.log(`${done.events} events of ${done.jids.join(', ')} written to ${done.file}`);
    if (done.sentRecords === undefined) console.error('sent-message records not covered: no --s3-bucket');
  });

stateOptions(contact.command('erase'))
  .description('delete every stored event of one contact of a clinic, and record it on the audit trail')
  .argument('<clinic[/channel]>')
  .argument('<contact...>', 'E.164 number or JID (several: the same person under other JIDs)')
  .requiredOption('--request <ref>', "the request's reference (ticket), recorded on the audit trail")
  .requiredOption('--yes', 'confirm: the events are deleted for good')
  .action(async (targetText: string, who: string[], opts: ContactOptions) => {
    const done = await withNats((nc) => eraseContact(nc, contactRequest(targetText, who, opts)));
    if (globals().json) return console.log(JSON.stringify(done));
    console.log(`${done.erased} events of ${done.jids.join(', ')} erased; none left`);
    if (done.sentRecords === undefined) console.error('sent-message records not covered: no --s3-bucket');
    else console.log(`${done.sentRecords} sent-message records erased`);
  });

const nats = program.command('nats').description('set up NATS for an installation');

nats
  .command('bootstrap')
  .description(
    "create the NATS trust chain once: writes the operator's issuer keys and NATS user to --out, prints " +
      "the nats-server configuration to add and the commands for the operator's Secrets (no seed is printed)",
  )
  .requiredOption('--out <dir>', 'a new or empty folder for the files (seeds, mode 0600)')
  .option('--name <name>', "the NATS operator's name", 'whatsapp-platform')
  .option('--namespace <ns>', "the operator's namespace, for the kubectl commands", 'whatsapp-system')
  .option('--issuer-secret <name>', "the operator's issuer Secret", 'whatsapp-operator-nats-issuer')
  .option('--creds-secret <name>', "the operator's NATS credentials Secret", 'whatsapp-operator-nats')
  .option('--nats-namespace <ns>', "nats-server's namespace, for its JetStream key's Secret", 'nats')
  .option('--resolver-dir <dir>', "nats-server's folder for account JWTs", '/data/accounts')
  .option('--store-dir <dir>', "nats-server's JetStream folder", '/data/jetstream')
  .action(async (opts: BootstrapOptions) => {
    console.log(await bootstrapToFolder(opts));
  });

program.addCommand(stateCommands(() => globals().json));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`wa: ${err.message}`);
    process.exitCode = err.exitCode;
  } else {
    console.error(`wa: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  }
}
