import { adminKubectl } from '../../harness/kubectl.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, CRD_NAME, KIND } from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';

const stack = testStack();
const ns = `crd-${Date.now().toString(36)}`;
const kubectl = adminKubectl();

async function apply(manifest: object): Promise<{ stdout: string; stderr: string }> {
  const file = join(stack.workDir, `${ns}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(manifest));
  return kubectl('apply', '-n', ns, '-f', file);
}

const channel = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name, namespace: ns },
  spec,
});

beforeAll(async () => {
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  await kubectl('create', 'namespace', ns);
});

describe('the WhatsAppChannel CRD on a real API server', () => {
  test('a valid channel is stored with the schema defaults filled in', async () => {
    await apply(channel('front-desk', { clinicId: 'clinic-a', channelId: 'front-desk' }));
    const { stdout } = await kubectl('get', 'wac', 'front-desk', '-n', ns, '-o', 'json');
    expect(JSON.parse(stdout).spec).toEqual({
      clinicId: 'clinic-a',
      channelId: 'front-desk',
      pairing: 'qr',
      suspend: false,
      deletionPolicy: 'Retain',
    });
  });

  test('kubectl get wac shows clinic, channel, phase, ready, account and age', async () => {
    const { stdout } = await kubectl('get', 'wac', '-n', ns);
    const [header, row] = stdout.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'CLINIC', 'CHANNEL', 'PHASE', 'READY', 'ACCOUNT', 'AGE']);
    expect(row).toMatch(/^front-desk\s+clinic-a\s+front-desk\s+/);
  });

  test.each([
    ['a clinic id with upper case', { clinicId: 'Clinic-A', channelId: 'x' }, 'spec.clinicId'],
    [
      'a clinic id with a dot (would escape its NATS subjects)',
      { clinicId: 'clinic.b', channelId: 'x' },
      'spec.clinicId',
    ],
    ['a channel id with a wildcard', { clinicId: 'a', channelId: 'x>' }, 'spec.channelId'],
    ['a channel id that is too long', { clinicId: 'a', channelId: 'x'.repeat(64) }, 'spec.channelId'],
    ['no clinic id', { channelId: 'x' }, 'spec.clinicId'],
    ['no channel id', { clinicId: 'a' }, 'spec.channelId'],
    [
      'a phone number that is not E.164',
      { clinicId: 'a', channelId: 'x', phoneNumber: '11 98765-4321' },
      'spec.phoneNumber',
    ],
    [
      'pairing by code without a phone number',
      { clinicId: 'a', channelId: 'x', pairing: 'code' },
      'spec.phoneNumber',
    ],
    ['an unknown pairing mode', { clinicId: 'a', channelId: 'x', pairing: 'sms' }, 'spec.pairing'],
    [
      'an unknown deletion policy',
      { clinicId: 'a', channelId: 'x', deletionPolicy: 'Delete' },
      'spec.deletionPolicy',
    ],
    ['suspend that is not a boolean', { clinicId: 'a', channelId: 'x', suspend: 'yes' }, 'spec.suspend'],
    [
      'a bucket name S3 would refuse',
      { clinicId: 'a', channelId: 'x', storage: { bucket: 'My_Bucket' } },
      'spec.storage.bucket',
    ],
    [
      'an unknown log level',
      { clinicId: 'a', channelId: 'x', worker: { logLevel: 'verbose' } },
      'spec.worker.logLevel',
    ],
    [
      'a memory limit that is not a quantity',
      { clinicId: 'a', channelId: 'x', worker: { resources: { limits: { memory: 'lots' } } } },
      'spec.worker.resources.limits.memory',
    ],
    [
      'a WhatsApp Web version that is not three numbers',
      { clinicId: 'a', channelId: 'x', worker: { waWebVersion: '2.3000' } },
      'spec.worker.waWebVersion',
    ],
    [
      'a WhatsApp Web version with a zero part',
      { clinicId: 'a', channelId: 'x', worker: { waWebVersion: '2.0.1023223821' } },
      'spec.worker.waWebVersion',
    ],
    [
      'a WhatsApp Web version part beyond uint32 (CEL)',
      { clinicId: 'a', channelId: 'x', worker: { waWebVersion: '2.3000.4294967296' } },
      'spec.worker.waWebVersion must be three positive integers',
    ],
    [
      'a send rate of zero',
      { clinicId: 'a', channelId: 'x', sendPolicy: { ratePerMinute: 0 } },
      'spec.sendPolicy.ratePerMinute',
    ],
    [
      'a send wait longer than a command reply may take',
      { clinicId: 'a', channelId: 'x', sendPolicy: { maxWaitSeconds: 120 } },
      'spec.sendPolicy.maxWaitSeconds',
    ],
    [
      "a media limit below the worker's minimum of 1024 bytes",
      { clinicId: 'a', channelId: 'x', media: { maxBytes: 1023 } },
      'spec.media.maxBytes',
    ],
    [
      'a media limit over 2 GiB',
      { clinicId: 'a', channelId: 'x', media: { maxBytes: 2147483649 } },
      'spec.media.maxBytes',
    ],
    [
      'a media limit that is not an integer',
      { clinicId: 'a', channelId: 'x', media: { maxBytes: '100MB' } },
      'spec.media.maxBytes',
    ],
  ])('rejects %s, naming the field', async (_what, spec, field) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const error = await apply(channel(name, spec)).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    expect(error).toContain(field);
    // Nothing was stored.
    await expect(kubectl('get', 'wac', name, '-n', ns)).rejects.toMatchObject({
      stderr: expect.stringContaining('NotFound'),
    });
  });

  test('a WhatsApp Web version is stored, and -o wide shows the version the worker reports', async () => {
    await apply(
      channel('versioned', {
        clinicId: 'clinic-a',
        channelId: 'versioned',
        worker: { waWebVersion: '2.3000.4294967295' },
      }),
    );
    const { stdout } = await kubectl(
      'get',
      'wac',
      'versioned',
      '-n',
      ns,
      '-o',
      'jsonpath={.spec.worker.waWebVersion}',
    );
    expect(stdout).toBe('2.3000.4294967295');
    await kubectl(
      'patch',
      'wac',
      'versioned',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { waWebVersion: '2.3000.1023223821' } }),
    );
    const wide = await kubectl('get', 'wac', 'versioned', '-n', ns, '-o', 'wide');
    const [header, row] = wide.stdout.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual([
      'NAME',
      'CLINIC',
      'CHANNEL',
      'PHASE',
      'READY',
      'ACCOUNT',
      'WA VERSION',
      'AGE',
    ]);
    expect(row).toMatch(/^versioned\s+clinic-a\s+versioned\s+.*2\.3000\.1023223821\s+\S+$/);
  });

  test('a media limit is stored as given, from 1024 bytes up to 2 GiB', async () => {
    for (const [name, maxBytes] of [
      ['media-min', 1024],
      ['media-max', 2147483648],
    ] as const) {
      await apply(channel(name, { clinicId: 'clinic-a', channelId: name, media: { maxBytes } }));
      const { stdout } = await kubectl('get', 'wac', name, '-n', ns, '-o', 'jsonpath={.spec.media.maxBytes}');
      expect(stdout).toBe(String(maxBytes));
    }
  });

  test('the example manifests in deploy/examples are accepted (server dry run)', async () => {
    for (const name of ['clinic-a', 'clinic-b'])
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    for (const example of ['channel-qr.yaml', 'channel-code.yaml']) {
      const { stdout } = await kubectl(
        'apply',
        '--dry-run=server',
        '-f',
        join(repoRoot, 'deploy', 'examples', example),
      );
      expect(stdout).toMatch(/whatsappchannel\.whatsapp\.clinic\.dev\/\S+ created \(server dry run\)/);
    }
  });

  test('clinicId and channelId cannot be changed after creation', async () => {
    await apply(channel('fixed', { clinicId: 'clinic-a', channelId: 'fixed' }));
    for (const [field, value] of [
      ['clinicId', 'clinic-b'],
      ['channelId', 'other'],
    ] as const) {
      const spec = { clinicId: 'clinic-a', channelId: 'fixed', [field]: value };
      await expect(apply(channel('fixed', spec))).rejects.toMatchObject({
        stderr: expect.stringContaining(`spec.${field} is immutable`),
      });
    }
    const { stdout } = await kubectl(
      'get',
      'wac',
      'fixed',
      '-n',
      ns,
      '-o',
      'jsonpath={.spec.clinicId}/{.spec.channelId}',
    );
    expect(stdout).toBe('clinic-a/fixed');
  });
});
