import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerBinary } from './catalog.ts';
import { goModulesDir, serversCacheDir } from './paths.ts';

export class ServerBuildError extends Error {}

/** Path of a server binary in the cache (it may not exist yet). */
export function cachedBinaryPath(server: ServerBinary): string {
  return join(serversCacheDir(), `${server.name}-${server.version}`, server.name);
}

/**
 * Returns the cached binary, building it with `go build` first when it is missing.
 * The build writes to a unique temporary name and renames it into place, so two
 * processes building at once both end with a complete binary.
 */
export async function ensureServerBinary(
  server: ServerBinary,
  log: (line: string) => void = () => {},
): Promise<string> {
  const target = cachedBinaryPath(server);
  if (existsSync(target)) return target;

  const dir = join(serversCacheDir(), `${server.name}-${server.version}`);
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, 'build.log');
  const temp = `${target}.${process.pid}.tmp`;
  const args = [
    'build',
    '-trimpath',
    '-o',
    temp,
    '-ldflags',
    ['-s', '-w', ...server.ldflags].join(' '),
    server.goPackage,
  ];
  const moduleDir = join(goModulesDir, server.module);
  log(`building ${server.name} ${server.version} (go ${args.join(' ')}) in ${moduleDir}; log: ${logFile}`);
  const started = Date.now();
  const code = await runToFile('go', args, moduleDir, logFile);
  if (code !== 0) {
    await rm(temp, { force: true });
    throw new ServerBuildError(
      `building ${server.name} ${server.version} failed (exit ${code}).\n` +
        `  command: (cd ${moduleDir} && go ${args.join(' ')})\n` +
        `  log: ${logFile}`,
    );
  }
  await rename(temp, target);
  log(`built ${server.name} in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

function runToFile(command: string, args: string[], cwd: string, logFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile);
    const child = spawn(command, args, {
      cwd,
      // GOTOOLCHAIN=local: never download another Go; the wrapper modules' go lines fit the machine's Go.
      env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', (err: NodeJS.ErrnoException) => {
      out.end();
      reject(
        new ServerBuildError(
          err.code === 'ENOENT'
            ? `"${command}" is not installed; the test servers are built with Go`
            : String(err),
        ),
      );
    });
    child.on('close', (code) => out.end(() => resolve(code ?? 1)));
  });
}
