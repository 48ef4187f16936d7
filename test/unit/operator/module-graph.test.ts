/**
 * The operator process never loads @kubernetes/client-node (it costs some 70 MiB of memory just
 * by being loaded; docs/operator.md, "Measured"): the operator talks to the API server through
 * its own client (operator/src/kube/http.ts). Type-only imports of its models are fine: they
 * vanish at run time. This imports every module operator/src/main.ts imports, in a fresh Node,
 * and lists what was loaded from client-node.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const main = fileURLToPath(new URL('../../../operator/src/main.ts', import.meta.url));

/** Imports `specifiers` (relative to main.ts) in a child process; returns the client-node files loaded. */
async function clientNodeFilesLoadedBy(specifiers: string[]): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
    const base = ${JSON.stringify(new URL('.', `file://${main}`).href)};
    for (const s of ${JSON.stringify(specifiers)}) await import(s.startsWith('.') ? new URL(s, base).href : s);
    process.stdout.write(JSON.stringify(loaded.filter((u) => u.includes('/@kubernetes/client-node/'))));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
    { cwd: fileURLToPath(new URL('../../..', import.meta.url)) },
  );
  return JSON.parse(stdout) as string[];
}

test('the modules operator/src/main.ts imports load nothing of @kubernetes/client-node', async () => {
  const source = await readFile(main, 'utf8');
  // Value imports only: `import type …` is erased.
  const specifiers = [...source.matchAll(/^import (?!type )[^;]*?from '([^']+)';/gms)].map((m) => m[1]!);
  expect(specifiers).toEqual(expect.arrayContaining(['./controller/controller.ts', './kube/connection.ts']));
  expect(await clientNodeFilesLoadedBy(specifiers)).toEqual([]);
}, 60_000);

test('the check sees client-node when it is loaded (the control)', async () => {
  expect((await clientNodeFilesLoadedBy(['@kubernetes/client-node'])).length).toBeGreaterThan(100);
}, 60_000);
