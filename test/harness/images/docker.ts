/**
 * A Docker engine for building and running the product's images in tests. No engine runs on
 * a fresh machine of this kind, so this installs Debian's `docker.io` (as root, with apt) when
 * it is missing and starts `dockerd` when nothing answers on its socket. Both steps are
 * idempotent: a second run finds the engine up and reuses its image and build caches.
 *
 * dockerd runs without its default bridge and without iptables rules (`--bridge=none
 * --iptables=false`): the tests build with host networking and run containers on the host's
 * loopback, so the engine changes nothing in the machine's network (the one-node cluster keeps
 * its own network, test/harness/node/). It is left running after the tests, as a system
 * service would be, so the next run starts at once; its log is in the cache folder.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cacheDir, withLock } from './cache.ts';

const run = promisify(execFile);

/** Debian's docker CLI (the machine may have a newer CLI elsewhere on PATH that wants buildx). */
export const DOCKER = '/usr/bin/docker';
const DOCKERD = '/usr/sbin/dockerd';

export type Docker = (...args: string[]) => Promise<{ stdout: string; stderr: string }>;

export const docker: Docker = (...args) => run(DOCKER, args, { maxBuffer: 64 << 20 });

async function engineAnswers(): Promise<boolean> {
  return docker('version', '--format', '{{.Server.Version}}').then(
    () => true,
    () => false,
  );
}

/** Makes sure Debian's docker.io is installed and its engine is answering. */
export async function ensureDocker(log: (line: string) => void = () => {}): Promise<void> {
  if (existsSync(DOCKERD) && (await engineAnswers())) return;
  const dir = join(cacheDir(), 'docker');
  await mkdir(dir, { recursive: true });
  await withLock(join(dir, 'start.lock'), log, 'starting dockerd', async () => {
    if (!existsSync(DOCKERD) || !existsSync(DOCKER)) await aptInstall(['docker.io'], log);
    if (await engineAnswers()) return;
    const logFile = join(dir, 'dockerd.log');
    log(`starting dockerd (log: ${logFile})`);
    const out = openSync(logFile, 'a');
    const child = spawn(DOCKERD, ['--bridge=none', '--iptables=false', '--ip-masq=false'], {
      stdio: ['ignore', out, out],
      detached: true,
    });
    let failed: Error | undefined;
    child.on('error', (err) => (failed = err));
    child.unref();
    const deadline = Date.now() + 60_000;
    while (!(await engineAnswers())) {
      if (failed) throw new Error(`cannot start dockerd: ${failed.message}`);
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}; log: ${logFile}`);
      if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s; log: ${logFile}`);
      await sleep(250);
    }
  });
}

/** apt-get install of Debian packages (root only; CI and development machines run as root). */
export async function aptInstall(packages: string[], log: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error(`${packages.join(', ')} missing, and only root can install them (apt-get install)`);
  log(`installing ${packages.join(' ')} from Debian's packages`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env });
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    env,
    maxBuffer: 64 << 20,
  });
}
