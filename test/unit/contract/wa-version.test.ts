import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  CRD_NAME,
  formatWaWebVersion,
  parseWaWebVersion,
  WA_WEB_VERSION_PATTERN,
} from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';

describe('WhatsApp Web version', () => {
  test.each([
    ['2.3000.1023223821', [2, 3000, 1023223821]],
    [' 2.2413.51 ', [2, 2413, 51]],
    ['4294967295.1.1', [4294967295, 1, 1]],
  ])('%j is three positive integers', (text, version) => {
    expect(parseWaWebVersion(text)).toEqual({ ok: true, version });
  });

  test.each([
    '',
    '2.3000',
    '2.3000.1.4',
    '2,3000,1023223821',
    '0.3000.1',
    '2.0.1',
    '2.3000.0',
    '02.3000.1',
    '-2.3000.1',
    '2.3000.1e3',
    'v2.3000.1',
    '2.3000.4294967296',
  ])('%j is refused with a message that shows a valid value', (text) => {
    const r = parseWaWebVersion(text);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toBe(
      `"${text}" is not a WhatsApp Web version: expected three positive integers separated by dots (each at most 4294967295), such as 2.3000.1023223821`,
    );
  });

  test('formats as Baileys’ array joined by dots, the inverse of parsing', () => {
    expect(formatWaWebVersion([2, 3000, 1023223821])).toBe('2.3000.1023223821');
    const parsed = parseWaWebVersion(formatWaWebVersion([2, 3000, 7]));
    expect(parsed).toEqual({ ok: true, version: [2, 3000, 7] });
  });

  test('the CRD field, the status schema and the parser use the same pattern', async () => {
    const crd = parse(await readFile(join(repoRoot, 'crds', `${CRD_NAME}.yaml`), 'utf8'));
    const schema = crd.spec.versions[0].schema.openAPIV3Schema.properties;
    const statusSchema = JSON.parse(
      await readFile(join(repoRoot, 'contract', 'schemas', 'status.v1.json'), 'utf8'),
    );
    expect(schema.spec.properties.worker.properties.waWebVersion.pattern).toBe(WA_WEB_VERSION_PATTERN.source);
    expect(schema.status.properties.waWebVersion.pattern).toBe(WA_WEB_VERSION_PATTERN.source);
    expect(statusSchema.properties.waWebVersion.pattern).toBe(WA_WEB_VERSION_PATTERN.source);
  });
});
