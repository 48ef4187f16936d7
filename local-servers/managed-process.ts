import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  logFile: string;
  /** Resolves true once the server answers; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

/**
 * A server process owned by its starter (local mode, the test harness): started with its
 * output in a log file, stopped for sure.
 */
export class ManagedProcess {
  private exited = false;
  private exitCode: number | null = null;
  private readonly child: ChildProcess;
  readonly name: string;
  readonly logFile: string;
  private readonly options: StartOptions;

  private constructor(child: ChildProcess, options: StartOptions) {
    this.child = child;
    this.name = options.name;
    this.logFile = options.logFile;
    this.options = options;
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code ?? (signal ? 128 : 1);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return !this.exited;
  }

  static async start(options: StartOptions): Promise<ManagedProcess> {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a stop also ends anything it spawned.
      detached: true,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const managed = new ManagedProcess(child, options);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new Error(`${options.name}: cannot start ${options.command}: ${err.message}`)),
      );
    });
    await managed.waitReady(options.ready, options.readyTimeoutMs ?? 60_000);
    return managed;
  }

  private async waitReady(ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(
          `${this.name} exited with code ${this.exitCode} before it was ready; log ${this.logFile}:\n${await this.logTail()}`,
        );
      }
      if (await ready().catch(() => false)) return;
      await sleep(100);
    }
    await this.stop();
    throw new Error(
      `${this.name} was not ready within ${timeoutMs} ms; log ${this.logFile}:\n${await this.logTail()}`,
    );
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  /** Stops the process and starts it again with the same arguments (same port, same data). */
  async restart(): Promise<ManagedProcess> {
    await this.stop();
    return ManagedProcess.start(this.options);
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** Sends a signal to the whole process group (used by tests to simulate crashes). */
  signal(signal: NodeJS.Signals): void {
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // Already gone between the check and the kill.
    }
  }
}

/** True when an HTTP(S) GET answers with a 2xx status. */
export async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.ok;
}
