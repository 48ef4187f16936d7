/**
 * npm run generate: writes contract/generated/*.ts from the CRD and the payload schemas, and the
 * kustomize monitoring component's copies of the chart's alert rules and dashboards.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGenerated } from '../contract/generate.ts';
import { renderMonitoringCopies } from './monitoring-copies.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const files = { ...(await renderGenerated(repoRoot)), ...(await renderMonitoringCopies(repoRoot)) };
for (const [path, content] of Object.entries(files)) {
  await mkdir(dirname(join(repoRoot, path)), { recursive: true });
  await writeFile(join(repoRoot, path), content);
  console.log(`wrote ${path}`);
}
