import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

/** The Dockerfiles linted with the real hadolint; run-as-kubernetes.test.ts builds and runs both images. */
const run = promisify(execFile);
const hadolint = (file: string) => run(testStack().bins.hadolint, [file]);

/** The paths .dockerignore lets into the build context (its `!path` lines). */
async function dockerignoreAllowlist(): Promise<string[]> {
  const text = await readFile(join(repoRoot, '.dockerignore'), 'utf8');
  return [...text.matchAll(/^!(\S+?)\/?$/gm)].map((m) => m[1]!);
}

/** The repository paths a Dockerfile copies into its runtime image (its `COPY` lines, not `--from`). */
async function copiedPaths(file: string): Promise<string[]> {
  const text = await readFile(join(repoRoot, file), 'utf8');
  return [...text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
}

/** A Dockerfile's stages, each from its `FROM` line on; the last one is the runtime image. */
const stagesOf = (text: string): string[] => text.split(/^FROM /m).slice(1);

describe('Dockerfiles', () => {
  test.each(['operator/Dockerfile', 'worker/Dockerfile'])('%s passes hadolint', async (file) => {
    await expect(hadolint(join(repoRoot, file))).resolves.toMatchObject({ stdout: '' });
  });

  test.each(['operator/Dockerfile', 'worker/Dockerfile'])(
    '%s runs as non-root on Node 24 from the lockfile',
    async (file) => {
      const text = await readFile(join(repoRoot, file), 'utf8');
      expect(text).toMatch(/^USER 65532:65532$/m);
      expect(text).toMatch(/nodejs24/);
      expect(text).toMatch(/npm ci --omit=dev/);
      expect(text).not.toMatch(/npm install/);
    },
  );

  test.each(['operator/Dockerfile', 'worker/Dockerfile'])(
    '%s copies only paths that .dockerignore sends, and labels the image with its version',
    async (file) => {
      const text = await readFile(join(repoRoot, file), 'utf8');
      const sent = await dockerignoreAllowlist();
      const copied = await copiedPaths(file);
      expect(copied.length).toBeGreaterThan(0);
      for (const path of copied) {
        const p = path.replace(/\/$/, '');
        expect(sent.filter((s) => p === s || p.startsWith(`${s}/`))).not.toEqual([]);
      }
      expect(text).toMatch(/^ARG VERSION=/m);
      expect(text).toContain('org.opencontainers.image.version="${VERSION}"');
      // Multi-stage: dependencies are installed (and the worker bundled) in build stages; the
      // runtime image, the last stage, installs nothing.
      const stages = stagesOf(text);
      expect(stages.length).toBeGreaterThanOrEqual(2);
      expect(stages.at(-1)).toMatch(/^\$\{NODE_RUNTIME_IMAGE\}/);
      expect(stages.at(-1)).not.toMatch(/npm /);
    },
  );

  // No image can be built, but its file set can be: exactly the copied paths (package-lock.json
  // aside) plus node_modules where the runtime stage has it, and the ENTRYPOINT's program must
  // load from it. An import reaching outside (say, the operator importing from worker/src)
  // fails here as it would in the image.
  test.each([
    ['operator/Dockerfile', ['--help'], 0, /Usage|--help/],
    ['worker/Dockerfile', [], 2, /WA_CLINIC_ID is required/],
  ] as const)(
    '%s: the files it copies are enough for its program to start',
    async (file, args, code, says) => {
      const text = await readFile(join(repoRoot, file), 'utf8');
      const root = await mkdtemp(join(testStack().workDir, 'image-'));
      for (const path of await copiedPaths(file))
        if (path !== 'package-lock.json')
          await cp(join(repoRoot, path), join(root, path), { recursive: true });
      await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
      // The build stages' own Node steps (the worker's bundle), in order, as the build runs them.
      for (const step of text.matchAll(/^RUN \["node", (.+)\]$/gm))
        await run(process.execPath, JSON.parse(`[${step[1]!}]`) as string[], { cwd: root });
      // The program then starts with node_modules only if the runtime stage (the last) copies it:
      // the worker's bundle must hold every module it loads.
      if (!/^COPY --from=deps .*node_modules/m.test(stagesOf(text).at(-1)!))
        await rm(join(root, 'node_modules'));
      const entry = /^ENTRYPOINT \["[^"]+", "([^"]+)"\]$/m.exec(text)![1]!;
      const result = await run(process.execPath, ['--disable-warning=ExperimentalWarning', entry, ...args], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '' },
      }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
      expect(result.out).not.toContain('ERR_MODULE_NOT_FOUND');
      expect(result).toMatchObject({ code, out: expect.stringMatching(says) });
    },
  );

  test(".dockerignore is an allowlist: nothing from the host's node_modules, .git or tests reaches the build", async () => {
    const lines = (await readFile(join(repoRoot, '.dockerignore'), 'utf8'))
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    expect(await dockerignoreAllowlist()).toEqual([
      'package.json',
      'package-lock.json',
      'contract',
      'operator/src',
      'worker/src',
      'worker/build',
    ]);
  });

  test('the worker image bundles with the esbuild version the repository is developed and tested with', async () => {
    const root = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const tools = JSON.parse(await readFile(join(repoRoot, 'worker/build/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const lock = JSON.parse(await readFile(join(repoRoot, 'worker/build/package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    expect(tools.dependencies).toEqual({ esbuild: root.devDependencies.esbuild });
    expect(lock.packages['node_modules/esbuild']?.version).toBe(root.devDependencies.esbuild);
  });

  test("the worker's compile-cache step fails the build rather than leave an image that starts slower", async () => {
    const step = (bundle: string, env: Record<string, string>) =>
      run(
        process.execPath,
        [
          '--disable-warning=ExperimentalWarning',
          join(repoRoot, 'worker/build/warm-compile-cache.ts'),
          bundle,
        ],
        { env: { PATH: process.env.PATH ?? '', ...env } },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const dir = await mkdtemp(join(testStack().workDir, 'compile-cache-step-'));
    const cache = await mkdtemp(join(testStack().workDir, 'compile-cache-'));
    // No cache folder named; then a program that does not stop at the worker's configuration check.
    expect(await step(join(repoRoot, WORKER_ENTRY), {})).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('NODE_COMPILE_CACHE is not set'),
    });
    const notTheWorker = join(dir, 'exits-0.mjs');
    await writeFile(notTheWorker, 'process.exit(0);\n');
    expect(await step(notTheWorker, { NODE_COMPILE_CACHE: dir })).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('expected the bundle to load and stop at the configuration check'),
    });
    // The bundle itself (the global set-up built it), into an empty folder: the cache is written.
    expect(await readdir(cache)).toEqual([]);
    expect(await step(join(repoRoot, WORKER_ENTRY), { NODE_COMPILE_CACHE: cache })).toEqual({
      code: 0,
      stderr: '',
    });
    expect((await readdir(cache, { recursive: true })).length).toBeGreaterThan(0);
  });

  test("the image version is package.json's version, the chart's appVersion (the chart's default image tag)", async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const chart = await readFile(join(repoRoot, 'charts/whatsapp-operator/Chart.yaml'), 'utf8');
    expect(chart).toContain(`appVersion: '${version}'`);
    for (const file of ['operator/Dockerfile', 'worker/Dockerfile'])
      expect(await readFile(join(repoRoot, file), 'utf8')).toMatch(
        new RegExp(`^ARG VERSION=${version.replaceAll('.', '\\.')}$`, 'm'),
      );
  });

  test('the check can fail: hadolint flags a careless Dockerfile', async () => {
    const bad = join(testStack().workDir, 'Dockerfile.bad');
    await writeFile(bad, 'FROM node\nRUN apt-get install curl\nADD . /app\n');
    await expect(hadolint(bad)).rejects.toMatchObject({
      stdout: expect.stringMatching(/DL3006|DL3008|DL3020/),
    });
  });
});
