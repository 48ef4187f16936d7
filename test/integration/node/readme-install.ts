/**
 * The README's tested install block (the ```sh block after the `tested-install` marker in
 * "Install on a cluster"), as argument lists with each `$VARIABLE` filled in: the node test
 * runs exactly these commands, so the README cannot drift from what is tested.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';

export async function readmeInstallCommands(vars: Record<string, string>): Promise<string[][]> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = /<!-- tested-install:[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no tested-install block');
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) =>
      line
        .trim()
        .split(/\s+/)
        .map((word) =>
          word.replace(/\$([A-Z0-9_]+)/g, (_, name: string) => {
            const value = vars[name];
            if (value === undefined)
              throw new Error(`README install block uses $${name}, which the test does not set`);
            return value;
          }),
        ),
    );
}
