/** npm run generate: writes contract/generated/*.ts from the CRD and the payload schemas. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderGenerated } from '../contract/generate.ts';
import { repoRoot } from '../test/harness/paths.ts';

for (const [path, content] of Object.entries(await renderGenerated(repoRoot))) {
  await writeFile(join(repoRoot, path), content);
  console.log(`wrote ${path}`);
}
