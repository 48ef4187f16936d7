/**
 * The product's two images, built from its own Dockerfiles with the repository root as context,
 * exactly as docs/install.md tells a user to build them, on the stand-in base images
 * (base-images.ts). Docker's layer cache makes a rebuild with unchanged sources take seconds.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../paths.ts';
import { ensureBaseImages, SOURCE_DATE_EPOCH } from './base-images.ts';
import { cacheDir, withLock } from './cache.ts';
import { docker, DOCKER, ensureDocker } from './docker.ts';

const run = promisify(execFile);

/** The repository both images are tagged under in tests (the chart's image.repository is set to it). */
export const TEST_REGISTRY = 'registry.wa.test/whatsapp';

export interface ProductImage {
  /** repository:tag */
  ref: string;
  repository: string;
  tag: string;
  /** Uncompressed size as the engine reports it, in bytes. */
  size: number;
}

export interface ProductImages {
  operator: ProductImage;
  worker: ProductImage;
}

/** The version both images carry: package.json's, which is the chart's appVersion. */
export async function productVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds both images (docker engine and base images first, when missing). */
export async function ensureProductImages(log: (line: string) => void = () => {}): Promise<ProductImages> {
  await ensureDocker(log);
  const base = await ensureBaseImages(log);
  const version = await productVersion();
  const dir = join(cacheDir(), 'images');
  await mkdir(dir, { recursive: true });
  return withLock(join(dir, 'product.lock'), log, 'building the product images', async () => {
    const build = async (name: 'operator' | 'worker'): Promise<ProductImage> => {
      const repository = `${TEST_REGISTRY}/whatsapp-${name}`;
      const ref = `${repository}:${version}`;
      const started = Date.now();
      // The classic builder: Debian's engine has no buildx. Host networking, because this
      // engine runs without a bridge (docker.ts); npm ci reaches the npm registry as the host does.
      await run(
        DOCKER,
        [
          'build',
          '--network=host',
          '-f',
          `${name}/Dockerfile`,
          '--build-arg',
          `NODE_BUILD_IMAGE=${base.build}`,
          '--build-arg',
          `NODE_RUNTIME_IMAGE=${base.runtime}`,
          '--build-arg',
          `VERSION=${version}`,
          '-t',
          ref,
          '.',
        ],
        {
          cwd: repoRoot,
          env: { ...process.env, DOCKER_BUILDKIT: '0', SOURCE_DATE_EPOCH },
          maxBuffer: 64 << 20,
        },
      ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(
          `docker build of ${name}/Dockerfile failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`,
        );
      });
      const size = Number((await docker('image', 'inspect', '--format', '{{.Size}}', ref)).stdout.trim());
      log(
        `built ${ref} (${(size / 2 ** 20).toFixed(1)} MiB) in ${Math.round((Date.now() - started) / 1000)} s`,
      );
      return { ref, repository, tag: version, size };
    };
    // One after the other: each build's npm ci already keeps the machine busy.
    const operator = await build('operator');
    const worker = await build('worker');
    return { operator, worker };
  });
}
