import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ManifestFolder,
  parseManifestFile,
  type DesiredChannels,
} from '../../../operator/src/local/manifest-folder.ts';
import { repoRoot } from '../../harness/paths.ts';

/** Local mode's desired state: manifests in a folder, validated like the API server does. */
const channel = (
  name: string,
  spec: string,
  namespace = 'clinic-a',
) => `apiVersion: whatsapp.clinic.dev/v1alpha1
kind: WhatsAppChannel
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
${spec}`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-manifests-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('manifest validation', () => {
  test('the examples are valid, and get the schema defaults', async () => {
    for (const file of ['channel-qr.yaml', 'channel-code.yaml']) {
      const parsed = parseManifestFile(await readFile(join(repoRoot, 'deploy/examples', file), 'utf8'));
      if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
      expect(parsed.channels[0]!.spec).toMatchObject({ suspend: false });
    }
    const parsed = parseManifestFile(channel('a', '  clinicId: clinic-a\n  channelId: main'));
    expect(parsed.ok && parsed.channels[0]!.spec).toEqual({
      clinicId: 'clinic-a',
      channelId: 'main',
      pairing: 'qr',
      suspend: false,
      deletionPolicy: 'Retain',
    });
  });

  test('every problem is named with its field, as the API server would', () => {
    const parsed = parseManifestFile(
      channel('Bad_Name', "  clinicId: Clinic_A\n  pairing: code\n  phoneNumber: '123'\n  colour: blue", 'x'),
    );
    expect(parsed.ok).toBe(false);
    const text = parsed.ok ? '' : parsed.errors.join('\n');
    for (const part of [
      'metadata.name',
      'spec.channelId: required',
      'spec.clinicId: must match pattern',
      'spec.phoneNumber: must match pattern',
      'spec.colour: unknown field',
    ])
      expect(text).toContain(part);
    const noPhone = parseManifestFile(channel('b', '  clinicId: a\n  channelId: b\n  pairing: code'));
    expect(noPhone.ok ? '' : noPhone.errors.join()).toContain(
      "spec.phoneNumber: required when spec.pairing is 'code'",
    );
    const tinyLimit = parseManifestFile(
      channel('c', '  clinicId: a\n  channelId: c\n  media: {maxBytes: 1023}'),
    );
    expect(tinyLimit.ok ? '' : tinyLimit.errors.join()).toContain('spec.media.maxBytes: must be >= 1024');
    const wrongKind = parseManifestFile('apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}');
    expect(wrongKind.ok ? '' : wrongKind.errors.join()).toContain('kind: must be WhatsAppChannel');
    const notYaml = parseManifestFile('spec: [unclosed');
    expect(notYaml.ok ? '' : notYaml.errors.join()).toMatch(/^document 1: YAML: /);
  });
});

describe('ManifestFolder', () => {
  test('an invalid file is reported and ignored; the channels it held before stay; deleting a file removes its channels', async () => {
    const folder = new ManifestFolder(dir);
    await writeFile(join(dir, 'a.yaml'), channel('front', '  clinicId: clinic-a\n  channelId: front'));
    await writeFile(join(dir, 'b.yml'), channel('back', '  clinicId: clinic-a\n  channelId: back'));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    expect([...(await folder.read()).channels.keys()]).toEqual(['clinic-a/front', 'clinic-a/back']);

    await writeFile(join(dir, 'a.yaml'), channel('front', '  clinicId: clinic-a\n  channelId: FRONT'));
    await writeFile(join(dir, 'c.yaml'), channel('new', '  clinicId: clinic-a'));
    const broken = await folder.read();
    expect([...broken.channels.keys()]).toEqual(['clinic-a/front', 'clinic-a/back']);
    expect(broken.channels.get('clinic-a/front')!.spec.channelId).toBe('front');
    expect(broken.problems).toEqual([
      { file: 'a.yaml', message: expect.stringMatching(/spec\.channelId.*previous version stays in effect/) },
      { file: 'c.yaml', message: expect.stringMatching(/spec\.channelId: required.*\(ignored\)$/) },
    ]);

    await unlink(join(dir, 'a.yaml'));
    expect([...(await folder.read()).channels.keys()]).toEqual(['clinic-a/back']);
  });

  test('two manifests for one clinic/channel are both kept: the duplicate rule decides, not the file names', async () => {
    await writeFile(join(dir, '1.yaml'), channel('one', '  clinicId: clinic-a\n  channelId: main'));
    await writeFile(join(dir, '2.yaml'), channel('two', '  clinicId: clinic-a\n  channelId: main'));
    const desired = await new ManifestFolder(dir).read();
    // The older claim runs, the other shows DuplicateChannel (manifest-changes.test.ts).
    expect([...desired.channels.keys()]).toEqual(['clinic-a/one', 'clinic-a/two']);
    expect(desired.problems).toEqual([]);
  });

  test('watch reports the folder at start and again after a change', async () => {
    const folder = new ManifestFolder(dir);
    const seen: DesiredChannels[] = [];
    const errors: Error[] = [];
    const stop = folder.watch(
      (d) => seen.push(d),
      (e) => errors.push(e),
      50,
    );
    try {
      await waitFor(() => seen.length === 1);
      expect(seen[0]!.channels.size).toBe(0);
      await writeFile(join(dir, 'a.yaml'), channel('front', '  clinicId: clinic-a\n  channelId: front'));
      await waitFor(() => seen.at(-1)!.channels.has('clinic-a/front'));
    } finally {
      stop();
    }
    expect(errors).toEqual([]);
  });
});

async function waitFor(p: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!p()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
