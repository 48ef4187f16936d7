/**
 * The operator in local mode: `node operator/src/local/main.ts [flags]` (docs/local-mode.md).
 * No cluster, no cloud account: manifests from a folder, workers as child processes, state
 * on the local disk under a local key file, NATS from --nats-url or a nats-server it starts
 * itself (built like the test servers, cached in ~/.cache/wa-operator).
 *
 * It prints one line per event (text, or JSON with --log-format json): ready, manifest
 * problems, phase changes. SIGINT/SIGTERM stop every worker gracefully, then itself.
 * Exit codes: 0 after a graceful stop, 1 on a start-up failure, 2 for invalid flags.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseWaWebVersion } from '../../../contract/index.ts';
import { LocalOperator, type LocalOperatorEvent } from './local-operator.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const defaultStateDir = join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'wa-operator');

const keyValue = (text: string, all: Record<string, string>) => {
  const at = text.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${text}"`);
  return { ...all, [text.slice(0, at)]: text.slice(at + 1) };
};

const program = new Command('wa-local-operator')
  .description('Run WhatsAppChannel manifests from a folder as local worker processes (no cluster).')
  .option(
    '--manifests <dir>',
    'folder of WhatsAppChannel manifests, watched for changes',
    join(repoRoot, 'deploy', 'examples'),
  )
  .option(
    '--state-dir <dir>',
    'encrypted auth state, the local key file, worker logs and status.json',
    defaultStateDir,
  )
  .addOption(
    new Option('--nats-url <url>', 'NATS server; without it a local nats-server is started').env('NATS_URL'),
  )
  .addOption(
    new Option('--nats-creds <file>', 'NATS credentials file (also given to the workers)').env(
      'NATS_CREDS_FILE',
    ),
  )
  .option(
    '--worker-env <KEY=VALUE>',
    "extra worker environment (repeatable), e.g. the simulator's WA_WS_URL, WA_TRUST_ROOT and NODE_EXTRA_CA_CERTS (its media CA)",
    keyValue,
    {} as Record<string, string>,
  )
  .addOption(
    new Option('--worker-log-level <level>', 'log level of the workers')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
      .default('info'),
  )
  .addOption(
    new Option(
      '--wa-web-version <version>',
      "WhatsApp Web client version every worker announces (a channel's spec.worker.waWebVersion wins); unset: Baileys' own",
    )
      .env('WA_WORKER_WA_WEB_VERSION')
      .argParser((text: string) => {
        const parsed = parseWaWebVersion(text);
        if (!parsed.ok) throw new InvalidArgumentError(parsed.error);
        return text.trim();
      }),
  )
  .addOption(new Option('--log-format <format>', 'output lines').choices(['text', 'json']).default('text'))
  .showHelpAfterError();

program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
program.parse(process.argv);
const opts = program.opts<{
  manifests: string;
  stateDir: string;
  natsUrl?: string;
  natsCreds?: string;
  workerEnv: Record<string, string>;
  workerLogLevel: string;
  waWebVersion?: string;
  logFormat: 'text' | 'json';
}>();

const json = opts.logFormat === 'json';
function print(fields: Record<string, unknown>, text: string): void {
  process.stdout.write(`${json ? JSON.stringify({ at: new Date().toISOString(), ...fields }) : text}\n`);
}

const stateDir = resolve(opts.stateDir);
let stopNats: (() => Promise<void>) | undefined;
let natsUrl = opts.natsUrl;
if (!natsUrl) {
  // The pinned nats-server, built once from the Go proxy (the test harness starts the same one).
  const { ensureServerBinary } = await import('../../../local-servers/server-binary.ts');
  const { NATS_SERVER, startNats } = await import('../../../local-servers/nats-server.ts');
  const bin = await ensureServerBinary(NATS_SERVER, (line) => print({ event: 'setup', line }, line));
  const nats = await startNats(bin, stateDir);
  natsUrl = nats.info.url;
  stopNats = () => nats.process.stop();
}

const operator = new LocalOperator({
  manifestsDir: resolve(opts.manifests),
  stateDir,
  natsUrl,
  natsCredsFile: opts.natsCreds,
  workerExtraEnv: opts.workerEnv,
  workerLogLevel: opts.workerLogLevel,
  waWebVersion: opts.waWebVersion,
  nodePath: process.execPath,
  workerEntry: join(repoRoot, 'worker', 'src', 'main.ts'),
});

operator.on((e: LocalOperatorEvent) => {
  if (e.type === 'problem')
    print({ event: 'problem', ...e.problem }, `✘ ${e.problem.file}: ${e.problem.message}`);
  else if (e.type === 'worker')
    print({ event: 'worker', message: e.message, ...e.fields }, `${String(e.fields.key)}: ${e.message}`);
  else if (e.type === 'removed')
    print({ event: 'removed', channel: e.key }, `${e.key}: removed, worker stopped`);
  else if (e.type === 'event')
    print(
      { event: 'event', channel: e.key, kind: e.kind, reason: e.reason, message: e.message },
      `${e.key}: ${e.reason}: ${e.message}`,
    );
  else {
    const ready = e.status.conditions?.find((c) => c.type === 'Ready');
    print(
      {
        event: 'phase',
        channel: e.key,
        clinicId: e.channel.spec.clinicId,
        channelId: e.channel.spec.channelId,
        phase: e.status.phase,
        reason: ready?.reason,
        message: e.status.message,
        workerPod: e.status.workerPod,
      },
      `${e.channel.spec.clinicId}/${e.channel.spec.channelId}: ${e.status.phase}${ready?.reason ? ` (${ready.reason})` : ''}`,
    );
  }
});

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    print({ event: 'stopping' }, 'stopping the workers');
    await operator.stop().catch(() => undefined);
    await stopNats?.();
    print({ event: 'stopped' }, 'stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  await operator.start();
} catch (err) {
  process.stderr.write(`local operator failed to start: ${(err as Error).message}\n`);
  await shutdown(1);
}
print(
  { event: 'ready', natsUrl, stateDir, manifests: resolve(opts.manifests), statusFile: operator.statusFile },
  `local operator ready: NATS ${natsUrl}, manifests ${resolve(opts.manifests)}, state ${stateDir}`,
);
