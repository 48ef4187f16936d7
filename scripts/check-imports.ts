/** npm test's import boundary check (scripts/import-boundaries.ts): exits 1 and lists every crossing. */
import { fileURLToPath } from 'node:url';
import { findViolations } from './import-boundaries.ts';

const violations = await findViolations(fileURLToPath(new URL('..', import.meta.url)));
for (const v of violations) console.error(`${v.file}: imports ${v.specifier} — ${v.why}`);
if (violations.length > 0) process.exit(1);
console.error('[test] import boundaries hold');
