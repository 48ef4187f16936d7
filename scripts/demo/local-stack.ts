/**
 * The processes of the local stack, for the demo and the CLI tests: the local operator
 * (operator/src/local/main.ts) as a child process whose JSON lines are parsed, and a NATS
 * viewer that records everything the clinics receive.
 *
 * The operator and its workers stay in the caller's process group (not detached): Ctrl-C
 * in a terminal reaches all of them, and a caller that stops the operator stops its workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { openNatsConnection, parseSubject, SUBJECT_ROOT } from '../../contract/index.ts';
import type { ChannelView } from '../../operator/src/local/local-operator.ts';

const localOperatorMain = fileURLToPath(new URL('../../operator/src/local/main.ts', import.meta.url));

export interface OperatorLine {
  event: string;
  channel?: string;
  phase?: string;
  reason?: string;
  [field: string]: unknown;
}

export interface LocalOperatorProcess {
  child: ChildProcess;
  lines: OperatorLine[];
  stderr(): string;
  /** The operator's status.json: every channel, its status and its worker's pid. */
  channels(): Promise<ChannelView[]>;
  waitLine(what: string, match: (l: OperatorLine) => boolean, ms?: number): Promise<OperatorLine>;
  stop(): Promise<void>;
}

export async function startLocalOperator(options: {
  manifests: string;
  stateDir: string;
  natsUrl: string;
  workerEnv?: Record<string, string>;
  onLine?: (line: OperatorLine) => void;
}): Promise<LocalOperatorProcess> {
  const args = [
    '--disable-warning=ExperimentalWarning',
    localOperatorMain,
    '--manifests',
    options.manifests,
    '--state-dir',
    options.stateDir,
    '--nats-url',
    options.natsUrl,
    '--log-format',
    'json',
    ...Object.entries(options.workerEnv ?? {}).flatMap(([k, v]) => ['--worker-env', `${k}=${v}`]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: OperatorLine[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: OperatorLine;
    try {
      line = JSON.parse(text) as OperatorLine;
    } catch {
      return;
    }
    lines.push(line);
    options.onLine?.(line);
    for (const w of waiters) w();
  });
  const exited = once(child, 'exit');
  const waitLine = (what: string, match: (l: OperatorLine) => boolean, ms = 60_000) =>
    new Promise<OperatorLine>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(`the local operator did not report ${what} within ${ms / 1000} s; stderr: ${stderr}`),
        );
      }, ms);
      waiters.add(check);
      check();
    });
  const operator: LocalOperatorProcess = {
    child,
    lines,
    stderr: () => stderr,
    channels: async () =>
      JSON.parse(await readFile(join(options.stateDir, 'status.json'), 'utf8')) as ChannelView[],
    waitLine,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
  await Promise.race([
    waitLine('ready', (l) => l.event === 'ready'),
    exited.then(() => {
      throw new Error(`the local operator exited before it was ready: ${stderr}`);
    }),
  ]);
  return operator;
}

export interface NatsEvent {
  subject: string;
  body: Record<string, unknown>;
}

/** Records every event under `wa.>` (commands excluded) and hands each to `onEvent`. */
export async function watchNats(
  url: string,
  onEvent: (e: NatsEvent) => void = () => undefined,
): Promise<{ nc: NatsConnection; events: NatsEvent[] }> {
  const nc = await openNatsConnection({ url, name: 'demo-viewer', reconnect: 'forever' });
  const events: NatsEvent[] = [];
  nc.subscribe(`${SUBJECT_ROOT}.>`, {
    callback: (_e, m) => {
      if (parseSubject(m.subject)?.kind === 'cmd') return;
      const e = { subject: m.subject, body: m.json<Record<string, unknown>>() };
      events.push(e);
      onEvent(e);
    },
  });
  await nc.flush();
  return { nc, events };
}

/** Polls until `probe` gives a value (or `ms` passes: then undefined, for a ✘ line rather than a crash). */
export async function within<T>(
  ms: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}
