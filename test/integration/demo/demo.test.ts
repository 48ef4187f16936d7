import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/paths.ts';

const run = promisify(execFile);

/** The README's first command, run non-interactively: every step it shows is checked by the demo itself. */
test('npm run demo -- --ci: two clinics start, state is stored encrypted, a killed worker is restored', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'scripts/demo.ts'), '--ci'],
    {
      timeout: 110_000,
    },
  );
  expect(stdout).toContain('demo: 5 passed, 0 failed');
  expect(stdout).not.toContain('✘');
});
