/**
 * Local mode's stand-in for pods: one child worker process per channel.
 *
 * - Each start is a new incarnation with its own uid, so its identity
 *   WA_LEASE_HOLDER = `<name>_<uid>` is unique, exactly like `<pod name>_<pod uid>` in a
 *   cluster: a replacement never mistakes the dead process's lease for its own, and late
 *   status reports of a dead incarnation are ignored.
 * - An exit that was not asked for is followed by a restart after a capped exponential
 *   backoff (1 s, 2 s, 4 s … 30 s), as the kubelet does; an incarnation that ran for a
 *   minute resets it. From the third failure in a row the channel shows CrashLoopBackOff.
 * - Removal (or a changed spec) sends SIGTERM, waits for the worker's graceful shutdown
 *   (it releases its lease), and sends SIGKILL after the deadline.
 * - Workers stay in this process's process group: whoever stops the group (Ctrl-C in a
 *   terminal, the demo's cleanup) stops the workers too, so none is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { freePort } from '../../../local-servers/free-port.ts';

export interface DesiredWorker {
  key: string;
  /** Base of the identity (`wa-<channel name>`, like the pod name). */
  name: string;
  env: Record<string, string>;
  /** A change restarts the worker. */
  specHash: string;
  /** The uid of the channel it runs for (a worker of an earlier channel of that name is not its own). */
  ownerUid?: string;
  /** stdout and stderr of every incarnation are appended here (0600). */
  logFile: string;
}

export interface Incarnation {
  uid: string;
  /** WA_LEASE_HOLDER, and the `worker` field of its status reports. */
  holder: string;
  pid: number;
  startedAt: number;
}

export interface WorkerProcessState {
  name: string;
  specHash: string;
  ownerUid: string | undefined;
  /** Asked to stop (SIGTERM sent), not gone yet. */
  stopping: boolean;
  current: Incarnation | undefined;
  /** Unrequested exits in a row (reset by a run of `stableAfterMs`). */
  failures: number;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: number } | undefined;
  /** When the next start is due, while backing off. */
  restartAt: number | undefined;
}

export interface ProcessRuntimeOptions {
  nodePath: string;
  workerEntry: string;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  stableAfterMs?: number;
  stopGraceMs?: number;
  /** Called whenever a worker starts, exits or is scheduled for a restart. */
  onChange?: (key: string) => void;
  /** Called for restarts and exits, for the operator's log. */
  log?: (message: string, fields: Record<string, unknown>) => void;
}

interface Entry {
  desired: DesiredWorker;
  state: WorkerProcessState;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  stopping: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class ProcessRuntime {
  private readonly entries = new Map<string, Entry>();
  private readonly options: Required<Omit<ProcessRuntimeOptions, 'onChange' | 'log'>> &
    Pick<ProcessRuntimeOptions, 'onChange' | 'log'>;
  private closed = false;

  constructor(options: ProcessRuntimeOptions) {
    this.options = {
      baseBackoffMs: 1_000,
      maxBackoffMs: 30_000,
      stableAfterMs: 60_000,
      stopGraceMs: 30_000,
      ...options,
    };
  }

  state(key: string): WorkerProcessState | undefined {
    return this.entries.get(key)?.state;
  }

  /** Makes one worker run with this spec: starts it, or replaces it when the spec changed. */
  async ensure(desired: DesiredWorker): Promise<void> {
    if (this.closed) return;
    const entry = this.entries.get(desired.key);
    if (entry && entry.desired.specHash === desired.specHash) return;
    if (entry) {
      await this.remove(desired.key);
      if (this.closed) return;
    }
    const fresh: Entry = {
      desired,
      state: {
        name: desired.name,
        specHash: desired.specHash,
        ownerUid: desired.ownerUid,
        stopping: false,
        current: undefined,
        failures: 0,
        restarts: 0,
        lastExit: undefined,
        restartAt: undefined,
      },
      child: undefined,
      exited: undefined,
      stopping: false,
      timer: undefined,
    };
    this.entries.set(desired.key, fresh);
    await this.start(fresh);
  }

  /** Stops a worker (SIGTERM, SIGKILL after the grace period) and forgets it. */
  async remove(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.stopping = true;
    entry.state.stopping = true;
    clearTimeout(entry.timer);
    this.options.onChange?.(key);
    await this.stop(entry);
    if (this.entries.get(key) === entry) this.entries.delete(key);
    this.options.onChange?.(key);
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.keys()].map((k) => this.remove(k)));
  }

  private async stop(entry: Entry): Promise<void> {
    const child = entry.child;
    if (!child || !entry.exited) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopGraceMs);
      await entry.exited;
      clearTimeout(timer);
    }
  }

  private async start(entry: Entry): Promise<void> {
    if (entry.stopping || this.closed) return;
    const { desired, state } = entry;
    const uid = randomUUID();
    const holder = `${desired.name}_${uid}`;
    const env = {
      ...desired.env,
      WA_LEASE_HOLDER: holder,
      WA_HTTP_PORT: String(await freePort()),
      WA_HTTP_HOST: '127.0.0.1', // this machine only: /metrics is nobody else's business
    };
    if (entry.stopping || this.closed) return;
    const log = createWriteStream(desired.logFile, { flags: 'a', mode: 0o600 });
    const child = spawn(
      this.options.nodePath,
      ['--disable-warning=ExperimentalWarning', this.options.workerEntry],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    entry.child = child;
    state.current = { uid, holder, pid: child.pid ?? -1, startedAt: Date.now() };
    state.restartAt = undefined;
    entry.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        log.end();
        this.exitedWith(entry, child, code, signal);
        resolve();
      }),
    );
    child.once('error', (err) =>
      this.options.log?.('worker could not be started', { key: desired.key, err: err.message }),
    );
    this.options.log?.('worker started', { key: desired.key, holder, pid: child.pid });
    this.options.onChange?.(desired.key);
  }

  private exitedWith(entry: Entry, child: ChildProcess, code: number | null, signal: string | null): void {
    if (entry.child !== child) return;
    const { state, desired } = entry;
    const ranMs = Date.now() - (state.current?.startedAt ?? Date.now());
    state.lastExit = { code, signal, at: Date.now() };
    state.current = undefined;
    entry.child = undefined;
    if (entry.stopping || this.closed) return;
    state.failures = ranMs >= this.options.stableAfterMs ? 1 : state.failures + 1;
    const delay = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (state.failures - 1));
    state.restartAt = Date.now() + delay;
    this.options.log?.('worker exited; restarting after backoff', {
      key: desired.key,
      code,
      signal,
      restartInMs: delay,
    });
    entry.timer = setTimeout(() => {
      state.restarts++;
      void this.start(entry);
    }, delay);
    this.options.onChange?.(desired.key);
  }
}
