import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CRD_NAME, GROUP, PHASES, PLURAL, VERSION } from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';

type Schema = {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
};

const crd = parse(await readFile(join(repoRoot, 'crds', `${CRD_NAME}.yaml`), 'utf8'));
const version = crd.spec.versions.find((v: { name: string }) => v.name === VERSION);
const root: Schema = version.schema.openAPIV3Schema;

/**
 * Every property path whose schema has no description. The API server forbids
 * anything but `type: object` under metadata, so it is the one exception.
 */
function undocumented(schema: Schema, path: string): string[] {
  const own = schema.description || path === '.metadata' ? [] : [path];
  const children = Object.entries(schema.properties ?? {}).flatMap(([k, v]) =>
    undocumented(v, `${path}.${k}`),
  );
  return [...own, ...children, ...(schema.items ? undocumented(schema.items, `${path}[]`) : [])];
}

describe('the WhatsAppChannel CRD', () => {
  test('matches the contract constants', () => {
    expect(crd.metadata.name).toBe(CRD_NAME);
    expect(crd.spec.group).toBe(GROUP);
    expect(crd.spec.names.plural).toBe(PLURAL);
    expect(crd.spec.names.shortNames).toEqual(['wac']);
    expect(crd.spec.names.categories).toEqual(['whatsapp']);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(root.properties!.status!.properties!.phase!.enum).toEqual([...PHASES]);
  });

  test('documents every field', () => {
    expect(undocumented(root, '')).toEqual([]);
  });

  test('shows clinic, channel, phase, ready, account and age in kubectl get', () => {
    // Columns with a priority above 0 appear only with -o wide.
    const plain = version.additionalPrinterColumns.filter((c: { priority?: number }) => !c.priority);
    expect(plain.map((c: { name: string }) => c.name)).toEqual([
      'Clinic',
      'Channel',
      'Phase',
      'Ready',
      'Account',
      'Age',
    ]);
  });

  test('kubectl get -o wide adds the WhatsApp Web version each worker reports', () => {
    expect(version.additionalPrinterColumns.filter((c: { priority?: number }) => c.priority === 1)).toEqual([
      expect.objectContaining({ name: 'WA Version', type: 'string', jsonPath: '.status.waWebVersion' }),
    ]);
  });

  test('makes clinicId and channelId immutable with CEL, and has a status subresource', () => {
    const spec = root.properties!.spec!.properties!;
    for (const field of ['clinicId', 'channelId']) {
      expect(spec[field]!['x-kubernetes-validations']).toEqual([
        expect.objectContaining({
          rule: 'self == oldSelf',
          message: expect.stringContaining(`spec.${field} is immutable`),
        }),
      ]);
    }
    expect(version.subresources).toEqual({ status: {} });
  });
});
