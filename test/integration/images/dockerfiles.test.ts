import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';

/** No image can be built here (no Docker engine), so the Dockerfiles are linted with the real hadolint. */
const run = promisify(execFile);
const hadolint = (file: string) => run(testStack().bins.hadolint, [file]);

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

  test('the check can fail: hadolint flags a careless Dockerfile', async () => {
    const bad = join(testStack().workDir, 'Dockerfile.bad');
    await writeFile(bad, 'FROM node\nRUN apt-get install curl\nADD . /app\n');
    await expect(hadolint(bad)).rejects.toMatchObject({
      stdout: expect.stringMatching(/DL3006|DL3008|DL3020/),
    });
  });
});
