import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findViolations } from '../../../scripts/import-boundaries.ts';
import { repoRoot } from '../../harness/paths.ts';

/** npm test's import boundary check: product code never loads test/, the operator never loads worker/. */
describe('import boundaries', () => {
  let root: string;
  const write = async (path: string, text: string) => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'import-boundaries-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  test('finds every crossing: static, dynamic and re-exports, into test/, wa-sim/ and across operator/worker', async () => {
    await write(
      'operator/src/local/runtime.ts',
      "import { freePort } from '../../../test/harness/ports.ts';\n",
    );
    await write(
      'operator/src/local/main.ts',
      "const { provider } = await import('../../../worker/src/auth-store/provider.ts');\n",
    );
    await write('scripts/demo.ts', "export { spawnSimulator } from '../test/wa-sim/control/process.ts';\n");
    await write('cli/wa.ts', "import '../wa-sim/simulator.ts';\n");
    await write('contract/index.ts', "import type { Config } from '../operator/src/config.ts';\n");
    await write('worker/src/main.ts', "import { reconcile } from '../../operator/src/reconciler.ts';\n");

    const found = await findViolations(root);

    expect(found.map(({ file, specifier }) => `${file} -> ${specifier}`).sort()).toEqual([
      'cli/wa.ts -> ../wa-sim/simulator.ts',
      'contract/index.ts -> ../operator/src/config.ts',
      'operator/src/local/main.ts -> ../../../worker/src/auth-store/provider.ts',
      'operator/src/local/runtime.ts -> ../../../test/harness/ports.ts',
      'scripts/demo.ts -> ../test/wa-sim/control/process.ts',
      'worker/src/main.ts -> ../../operator/src/reconciler.ts',
    ]);
    expect(found.every((v) => v.why.length > 0)).toBe(true);
  });

  test('allows what the boundaries allow: contract/ and packages from product code, anything from test/', async () => {
    await write(
      'operator/src/main.ts',
      [
        "import { natsServers } from '../../contract/index.ts';",
        "import { freePort } from '../../local-servers/free-port.ts';",
        "import { connect } from 'nats';",
        "// not an import: '../../test/harness/ports.ts'",
        "const where = '../../worker/src/main.ts';",
      ].join('\n'),
    );
    await write(
      'worker/src/main.ts',
      "import { loadOrCreateKeyFile } from '../../contract/local-key-file.ts';\n",
    );
    await write('scripts/demo.ts', "import { spawnSimulator } from '../wa-sim/control/process.ts';\n");
    await write('test/harness/stack.ts', "import { reconcile } from '../../operator/src/main.ts';\n");
    await write('wa-sim/main.ts', "import { testStack } from '../test/harness/stack.ts';\n");

    await expect(findViolations(root)).resolves.toEqual([]);
  });

  test('the repository holds to them', async () => {
    await expect(findViolations(repoRoot)).resolves.toEqual([]);
  });
});
