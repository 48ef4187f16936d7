/** npm run generate: writes contract/generated/*.ts from the CRD and the payload schemas. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGenerated } from '../contract/generate.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

for (const [path, content] of Object.entries(await renderGenerated(repoRoot))) {
  await writeFile(join(repoRoot, path), content);
  console.log(`wrote ${path}`);
}
