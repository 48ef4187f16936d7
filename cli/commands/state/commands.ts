/**
 * The `wa state` commands for platform engineers (docs/operations.md, "Backup and restore of
 * the state"): verify, backup, restore and rewrap a channel's stored state in S3, with S3, KMS
 * and Kubernetes access (not NATS). Each prints one line per channel or object to stdout, or
 * JSON with --json, and progress to stderr.
 */
import { Command, Option } from 'commander';
import { CliError } from '../../connection.ts';
import { backupChannel } from './backup.ts';
import { checkChannel, type ChannelCheck } from './check.ts';
import { planFromBackup, planPointInTime, restoreChannel } from './restore.ts';
import { historyNotUnder, recordsNotUnder, rewrapChannel } from './rewrap.ts';
import { describeTarget, StateAccess, type StateAccessOptions } from './state-access.ts';

function accessOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--s3-bucket <bucket>',
        "the workers' state bucket (a channel's spec.storage.bucket wins)",
      ).env('WA_S3_BUCKET'),
    )
    .addOption(
      new Option('--s3-prefix <prefix>', "the workers' WA_S3_PREFIX").env('WA_S3_PREFIX').default('wa'),
    )
    .addOption(new Option('--s3-region <region>', 'S3 region').env('WA_S3_REGION').default('us-east-1'))
    .addOption(new Option('--s3-endpoint <url>', 'S3 endpoint (MinIO)').env('WA_S3_ENDPOINT'))
    .addOption(
      new Option('--kms-region <region>', 'KMS region (default: the S3 region)').env('WA_KMS_REGION'),
    )
    .addOption(new Option('--kms-endpoint <url>', 'KMS endpoint (local-kms)').env('WA_KMS_ENDPOINT'))
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config)'));
}

/** Runs with the access the options give, and always lets its clients go. */
async function withAccess<T>(
  options: StateAccessOptions,
  fn: (access: StateAccess) => Promise<T>,
): Promise<T> {
  const access = new StateAccess(options);
  try {
    return await fn(access);
  } finally {
    access.destroy();
  }
}

const progress = (line: string) => console.error(`wa: ${line}`);

function printCheck(check: ChannelCheck, where: string): void {
  const live = check.live;
  const state =
    live.objects === 0
      ? 'no live state'
      : `${live.objects} objects, snapshot at slot ${live.snapshotSeq ?? '?'}, journal to slot ${live.lastSeq ?? '?'}, ` +
        `${live.linked ? 'a linked device' : 'no linked device'}, data key under ${live.keyArn ?? '?'}`;
  const copies = check.quarantined.length > 0 ? `; ${check.quarantined.length} quarantined copies` : '';
  console.log(`${check.problems.length === 0 ? 'ok ' : 'BAD'} ${where}: ${state}${copies}`);
  for (const p of check.problems) console.log(`    ${p.key}: ${p.why}`);
}

/** `a time`: ISO 8601 with its zone (2026-12-02T11:40:00Z), not in the future. */
function parseTime(text: string): Date {
  const at = new Date(text);
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(text) || Number.isNaN(at.getTime()))
    throw new CliError(`--to "${text}" is not an ISO 8601 time with a zone, such as 2026-12-02T11:40:00Z`, 2);
  if (at.getTime() > Date.now()) throw new CliError(`--to ${text} is in the future`, 2);
  return at;
}

export function stateCommands(json: () => boolean): Command {
  const state = new Command('state').description(
    "check, back up, restore and re-wrap channels' stored state (S3, KMS and Kubernetes access)",
  );

  accessOptions(state.command('verify'))
    .description('decrypt-check every object of a channel or a clinic, without connecting to WhatsApp')
    .argument('[namespace/channel]', "the channel's resource")
    .option('--clinic <clinic>', 'every channel of this clinic in the bucket')
    .action(async (resource: string | undefined, opts: StateAccessOptions & { clinic?: string }) => {
      const checks = await withAccess(opts, async (access) => {
        const out: { where: string; check: ChannelCheck }[] = [];
        for (const target of await access.targets(resource, opts.clinic))
          out.push({
            where: describeTarget(target),
            check: await checkChannel(access.store(target.bucket), target, access.kms),
          });
        return out;
      });
      if (json())
        console.log(JSON.stringify(checks.map(({ where, check }) => ({ channel: where, ...check }))));
      else for (const { where, check } of checks) printCheck(check, where);
      const bad = checks.reduce((n, c) => n + c.check.problems.length, 0);
      if (bad > 0) throw new CliError(`${bad} bad objects (listed above)`);
    });

  accessOptions(state.command('backup'))
    .description(
      "a consistent, verified copy of a channel's prefix in a new folder (the worker keeps running)",
    )
    .argument('<namespace/channel>', "the channel's resource")
    .requiredOption('--to <folder>', 'a new or empty folder')
    .action(async (resource: string, opts: StateAccessOptions & { to: string }) => {
      const done = await withAccess(opts, async (access) =>
        backupChannel(access, await access.channel(resource), opts.to),
      );
      if (json()) return console.log(JSON.stringify(done));
      console.log(
        `backed up ${done.base} to ${done.dir}: ${done.objects.length} objects, journal to slot ${done.lastSeq}, ` +
          `verified (data key under ${done.keyArn})`,
      );
    });

  accessOptions(state.command('restore'))
    .description(
      'suspend the channel, put back the state it had at a moment (versioned bucket) or a backup, and resume it',
    )
    .argument('<namespace/channel>', "the channel's resource")
    .option('--to <time>', 'the moment, ISO 8601 with a zone (2026-12-02T11:40:00Z)')
    .option('--from <folder>', 'a backup made by wa state backup')
    .option('--wait <seconds>', 'how long to wait for the worker to stop', '120')
    .action(
      async (resource: string, opts: StateAccessOptions & { to?: string; from?: string; wait: string }) => {
        if ((opts.to === undefined) === (opts.from === undefined))
          throw new CliError('give either --to <time> or --from <backup folder>', 2);
        const waitMs = Math.max(1, Number(opts.wait) || 120) * 1000;
        const done = await withAccess(opts, async (access) => {
          const target = await access.channel(resource);
          const plan = opts.to
            ? () => planPointInTime(access, target, parseTime(opts.to!))
            : () => planFromBackup(access, target, opts.from!);
          return restoreChannel(access, target, plan, waitMs, progress);
        });
        if (json()) return console.log(JSON.stringify(done));
        console.log(
          `restored ${done.channel} to ${done.source}: ${done.changed} objects changed, journal to slot ${done.lastSeq}`,
        );
      },
    );

  accessOptions(state.command('rewrap'))
    .description('re-wrap the data keys of a channel or a clinic under another KMS key, with no downtime')
    .argument('[namespace/channel]', "the channel's resource")
    .option('--clinic <clinic>', 'every channel of this clinic in the bucket')
    .requiredOption('--to-key <key>', 'the new KMS key (id, ARN or alias)')
    .action(
      async (resource: string | undefined, opts: StateAccessOptions & { clinic?: string; toKey: string }) => {
        const report = await withAccess(opts, async (access) => {
          const toKeyArn = await access.kms.keyArn(opts.toKey);
          const out = [];
          for (const target of await access.targets(resource, opts.clinic)) {
            const records = await rewrapChannel(access, target, opts.toKey, toKeyArn);
            out.push({
              channel: describeTarget(target),
              records,
              left: await recordsNotUnder(access, target, toKeyArn),
              history: await historyNotUnder(access, target, toKeyArn),
            });
          }
          return { toKeyArn, channels: out };
        });
        if (json()) console.log(JSON.stringify(report));
        else
          for (const c of report.channels) {
            const count = (o: string) => c.records.filter((r) => r.outcome === o).length;
            console.log(
              `${c.left.length === 0 ? 'ok ' : 'OLD'} ${c.channel}: ${count('rewrapped')} re-wrapped, ` +
                `${count('already')} already under ${report.toKeyArn}`,
            );
            for (const l of c.left) console.log(`    ${l.key}: still under ${l.under}`);
            for (const h of c.history)
              console.log(
                `    history: ${h.key} version ${h.versionId} of ${h.lastModified.toISOString()} is under ${h.under} ` +
                  "(a restore point from before; restores keep today's record when it opens the state)",
              );
          }
        const left = report.channels.reduce((n, c) => n + c.left.length, 0);
        if (left > 0)
          throw new CliError(`${left} data key records are not under ${report.toKeyArn} (listed above)`);
      },
    );

  return state;
}
