/**
 * The `wa` CLI run as its users run it, for the tests: a child process with exactly the given
 * environment (plus PATH), and a helper for commands that must fail.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

const run = promisify(execFile);
export const WA_ENTRY = join(repoRoot, 'cli', 'wa.ts');

/** A `wa` with fixed leading arguments (server, credentials) and environment. */
export function waCli(leading: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  return (...args: string[]) =>
    run(process.execPath, [WA_ENTRY, ...leading, ...args], {
      timeout: timeoutMs,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
}

/** The failure of a command that must fail (exit code and stderr); a success fails the test. */
export const fails = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the command to fail');
    },
    (err: { code: number; stderr: string }) => err,
  );
