/**
 * Bundles the worker (worker/src/main.ts and every module it loads, dependencies included) into
 * one ESM file, dist/worker-bundle/main.mjs, which is what the worker image runs.
 *
 * Why: a worker start spends most of its time loading modules (docs/worker.md, "Performance").
 * Node resolves, reads, strips types from and links ~1,450 modules one by one; one file with
 * V8's compile cache loads in about two thirds of the time. The sources stay the truth: the
 * bundle is built from them with no transformation beyond type stripping and concatenation.
 *
 * Everything the worker loads is inside (ajv too: contract/validate.ts says how), so the image
 * needs no node_modules. What stays outside, none of it installed:
 * - Baileys' optional media helpers (jimp, sharp, link-preview-js, audio-decode): not installed,
 *   loaded by Baileys only for features a channel does not use (docs/media.md); likewise the
 *   optional native helpers that the AWS SDK and ws try to load and do without
 *   (@aws-sdk/signature-v4-crt, utf-8-validate, bufferutil);
 * - the payload schemas, read at run time next to the module that validates: copied to
 *   dist/worker-bundle/schemas.
 * What a bundle cannot do, and the worker does not: load files next to a dependency's own
 * module by path (pino's transports start worker threads that way; the worker logs to stdout
 * without one).
 *
 *   node worker/build/bundle.ts [outdir]     (default dist/worker-bundle)
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '../..');
const outdir = resolve(root, process.argv[2] ?? 'dist/worker-bundle');

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: [join(root, 'worker/src/main.ts')],
  outfile: join(outdir, 'main.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // CommonJS dependencies call require(); an ESM file has none of its own.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
  },
  external: [
    'jimp',
    'sharp',
    'link-preview-js',
    'audio-decode',
    '@aws-sdk/signature-v4-crt',
    'utf-8-validate',
    'bufferutil',
  ],
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
});
await cp(join(root, 'contract/schemas'), join(outdir, 'schemas'), { recursive: true });
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
process.stdout.write(
  `bundled the worker into ${join(outdir, 'main.mjs')} (${(bytes / 1e6).toFixed(1)} MB, ${Object.keys(result.metafile.inputs).length} modules)\n`,
);
