/**
 * One of this repository's programs (`worker/src/main.ts`, `operator/src/main.ts`…) run as a
 * child process by a test, the way a container runs it: its own environment, its output kept
 * for assertions and for the failure message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

export interface NodeChild {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  logs(): string;
  stdout(): string;
  stderr(): string;
  /** The exit code (null after a signal), once the output is all read. */
  exited: Promise<number | null>;
  /** Sends a signal unless the process has already ended. */
  kill(signal: NodeJS.Signals): void;
}

/**
 * Runs `node <script> ...args` (script relative to the repository root) with exactly `env`
 * plus PATH: nothing of the test runner's environment leaks in unless passed.
 */
export function spawnNode(script: string, env: Record<string, string>, args: string[] = []): NodeChild {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, script), ...args],
    { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    logs += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    logs += d.toString();
    stderr += d.toString();
  });
  // 'close', not 'exit': only then has all of the output arrived.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    logs: () => logs,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
