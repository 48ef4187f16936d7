/**
 * Pinned server binaries built on this machine. No registry reachable here ships them, so
 * each is built with `go build` from the Go module proxy inside its own committed wrapper
 * module (one module per server keeps Go's version selection from mixing their dependency
 * graphs), and cached outside the repository so that a fresh clone reuses it.
 * Local mode builds nats-server this way; the test harness builds every test server with it.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServerBinary {
  /** Binary name, also the cache folder's prefix. */
  name: string;
  version: string;
  /** The wrapper module's folder (its go.mod and go.sum pin the build). */
  moduleDir: string;
  /** Go package path of the `main` package to build. */
  goPackage: string;
  /** Linker flags, e.g. to stamp the version reported by the binary. */
  ldflags: string[];
}

export class ServerBuildError extends Error {
  readonly code = 'ServerBuildFailed';
}

/**
 * Where built server binaries are cached, keyed by name and version, outside the
 * repository so that a fresh clone on the same machine reuses them.
 * Override with WA_SERVERS_CACHE.
 */
export function serversCacheDir(): string {
  if (process.env.WA_SERVERS_CACHE) return resolve(process.env.WA_SERVERS_CACHE);
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'wa-operator', 'servers');
}

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
  // One build per server at a time, across processes: test runs started side by side would
  // otherwise each build the same server, every build slowed by all the others.
  const release = await buildLock(join(dir, 'build.lock'), target, log, server.name);
  if (release === 'built') return target;
  try {
    return await build(server, dir, target, log);
  } finally {
    await release();
  }
}

async function build(
  server: ServerBinary,
  dir: string,
  target: string,
  log: (line: string) => void,
): Promise<string> {
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
  const moduleDir = server.moduleDir;
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

/**
 * Takes the build lock (a file created exclusively, holding our pid), or waits while a live
 * process holds it. Returns 'built' when the binary appeared meanwhile, otherwise the release.
 */
async function buildLock(
  lockFile: string,
  target: string,
  log: (line: string) => void,
  name: string,
): Promise<'built' | (() => Promise<void>)> {
  let announced = false;
  for (;;) {
    if (existsSync(target)) return 'built';
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(lockFile, 'utf8').catch(() => '')) || NaN);
    if (Number.isInteger(holder) && !isAlive(holder)) {
      await rm(lockFile, { force: true }); // its builder died: the next round takes it
      continue;
    }
    if (!announced) log(`waiting for process ${holder} to finish building ${name}`);
    announced = true;
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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
            ? `"${command}" is not installed; these servers are built with Go`
            : String(err),
        ),
      );
    });
    child.on('close', (code) => out.end(() => resolve(code ?? 1)));
  });
}
