/**
 * Which top-level folder may import which. Product code stands on its own: nothing it ships or
 * runs on a developer's machine (operator, worker, CLI, contract, local servers, the demo and
 * generator scripts) loads the tests; the operator and the worker share code only through
 * contract/ (their images copy their own folder and contract/, nothing else); the shared
 * modules depend on nothing above them. `npm test` runs this check (scripts/check-imports.ts).
 *
 * Imports are read with TypeScript's pre-processor, so dynamic `import()` and `export … from`
 * count too, and a path mentioned in a comment does not.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

interface Boundary {
  /** Top-level folders whose files the rule applies to. */
  from: string[];
  /** Top-level folders those files must not import. */
  notInto: string[];
  why: string;
}

export const BOUNDARIES: Boundary[] = [
  {
    from: ['operator', 'worker', 'cli', 'contract', 'local-servers', 'scripts'],
    notInto: ['test'],
    why: 'product code never loads the tests; move what both need into product code',
  },
  {
    from: ['operator', 'worker', 'cli', 'contract', 'local-servers'],
    notInto: ['wa-sim'],
    why: 'the WhatsApp simulator is for the tests and the demo only',
  },
  {
    from: ['operator'],
    notInto: ['worker'],
    why: 'the operator image carries no worker code; share through contract/',
  },
  {
    from: ['worker'],
    notInto: ['operator'],
    why: 'the worker image carries no operator code; share through contract/',
  },
  {
    from: ['contract', 'local-servers'],
    notInto: ['operator', 'worker', 'cli'],
    why: 'shared modules depend on nothing above them',
  },
];

export interface Violation {
  /** Importing file, relative to the root. */
  file: string;
  specifier: string;
  why: string;
}

/** Folders never read: dependencies, build output, and the Go wrapper modules. */
const SKIP = new Set(['node_modules', 'dist', 'go', 'coverage']);

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) files.push(...(await sourceFiles(path)));
    } else if (/\.[cm]?[jt]s$/.test(entry.name)) files.push(path);
  }
  return files;
}

/** The top-level folder a path inside `root` lies in ('' when outside the root or at its top). */
function topFolder(root: string, path: string): string {
  const inside = relative(root, path);
  if (inside.startsWith('..') || !inside.includes(sep)) return '';
  return inside.split(sep)[0]!;
}

/** Every import of the files under `root` that crosses a boundary. */
export async function findViolations(root: string): Promise<Violation[]> {
  const violations: Violation[] = [];
  const folders = [...new Set(BOUNDARIES.flatMap((b) => b.from))];
  for (const folder of folders) {
    const rules = BOUNDARIES.filter((b) => b.from.includes(folder));
    for (const file of await sourceFiles(join(root, folder))) {
      const { importedFiles } = ts.preProcessFile(await readFile(file, 'utf8'), true, true);
      for (const { fileName: specifier } of importedFiles) {
        // Package imports ('nats', 'node:fs') stay inside node_modules.
        if (!specifier.startsWith('.') && !specifier.startsWith('/')) continue;
        const target = topFolder(root, resolve(dirname(file), specifier));
        for (const rule of rules.filter((r) => r.notInto.includes(target)))
          violations.push({ file: relative(root, file), specifier, why: rule.why });
      }
    }
  }
  return violations;
}
