import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderGenerated } from '../../../contract/generate.ts';
import { repoRoot } from '../../harness/paths.ts';

/** The TypeScript types are generated from the CRD and the schemas; they must not drift. */
test('contract/generated/* is what the CRD and the schemas generate (run `npm run generate`)', async () => {
  const rendered = await renderGenerated(repoRoot);
  expect(Object.keys(rendered).length).toBeGreaterThan(1);
  for (const [path, content] of Object.entries(rendered)) {
    expect({ path, content: await readFile(join(repoRoot, path), 'utf8') }).toEqual({ path, content });
  }
});
