import type { WhatsAppChannel } from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import {
  IMAGE_NOT_ALLOWED,
  imageAllowed,
  imageRefusal,
  imageRepository,
} from '../../../operator/src/worker-image.ts';

/** K4 (docs/security.md): only the platform's repositories run with a clinic's identity. */
const required = {
  NATS_URL: 'nats://n:4222',
  WA_WORKER_IMAGE: 'ghcr.io/acme/whatsapp-worker:1.4.0',
  WA_S3_BUCKET: 'bucket',
  WA_KMS_KEY_ID: 'alias/k',
};
const channel = (image?: string): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front-desk', namespace: 'clinic-a', uid: 'u-1' },
  spec: { clinicId: 'clinic-a', channelId: 'front-desk', ...(image ? { worker: { image } } : {}) },
});
const digest = `sha256:${'a'.repeat(64)}`;

test('the repository of a reference is without its tag and digest, a registry port kept', () => {
  expect(imageRepository('ghcr.io/acme/whatsapp-worker:1.4.0')).toBe('ghcr.io/acme/whatsapp-worker');
  expect(imageRepository(`ghcr.io/acme/whatsapp-worker@${digest}`)).toBe('ghcr.io/acme/whatsapp-worker');
  expect(imageRepository(`registry:5000/wa/worker:1@${digest}`)).toBe('registry:5000/wa/worker');
  expect(imageRepository('wa-worker')).toBe('wa-worker');
});

test('an allowed repository with any tag, any digest, both or neither', () => {
  const allowed = ['ghcr.io/acme/whatsapp-worker'];
  for (const image of [
    'ghcr.io/acme/whatsapp-worker',
    'ghcr.io/acme/whatsapp-worker:1.5.0-rc.1',
    `ghcr.io/acme/whatsapp-worker@${digest}`,
    `ghcr.io/acme/whatsapp-worker:1.5.0@${digest}`,
  ])
    expect([image, imageAllowed(image, allowed)]).toEqual([image, true]);
});

test('anything else is refused: another repository, a longer path, a look-alike, a host named like the repository', () => {
  const allowed = ['ghcr.io/acme/whatsapp-worker', 'wa-worker'];
  for (const image of [
    'ghcr.io/evil/whatsapp-worker:1.4.0',
    'ghcr.io/acme/whatsapp-worker-debug:1.4.0',
    'ghcr.io/acme/whatsapp-worker/sub:1',
    'ghcr.io/acme/whatsapp-workerx',
    'wa-worker:5000/evil/image:1', // the registry host "wa-worker:5000", not a tag of wa-worker
    'wa-worker:1/../x',
    'docker.io/library/wa-worker:1', // no normalisation: the platform's exact words
    `ghcr.io/acme/whatsapp-worker@sha256:short`,
  ])
    expect([image, imageAllowed(image, allowed)]).toEqual([image, false]);
});

test('a channel asking for a foreign image is refused with ImageNotAllowed, naming the allowed repositories', () => {
  const repos = ['ghcr.io/acme/whatsapp-worker', 'registry.internal:5000/wa/worker'];
  expect(imageRefusal(channel(), repos)).toBeUndefined();
  expect(imageRefusal(channel('registry.internal:5000/wa/worker:2'), repos)).toBeUndefined();
  const refused = imageRefusal(channel('docker.io/mallory/steal:latest'), repos)!;
  expect(refused.reason).toBe(IMAGE_NOT_ALLOWED);
  expect(refused.message).toContain('spec.worker.image "docker.io/mallory/steal:latest"');
  expect(refused.message).toContain('(ghcr.io/acme/whatsapp-worker, registry.internal:5000/wa/worker)');
  expect(refused.message).toContain('WA_WORKER_ALLOWED_REPOSITORIES');
});

describe('the allow-list setting', () => {
  const configOf = (env: Record<string, string>, argv: string[] = []) =>
    parseOperatorConfig({ ...required, ...env }, argv);

  test("defaults to the repository of the operator's own worker image", () => {
    const r = configOf({});
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config.worker.allowedRepositories).toEqual(['ghcr.io/acme/whatsapp-worker']);
    const pinned = configOf({ WA_WORKER_IMAGE: `registry:5000/wa/worker@${digest}` });
    if (!pinned.ok) throw new Error(pinned.errors.join());
    expect(pinned.config.worker.allowedRepositories).toEqual(['registry:5000/wa/worker']);
  });

  test('a comma-separated list, from the variable or the flag', () => {
    const r = configOf({ WA_WORKER_ALLOWED_REPOSITORIES: 'ghcr.io/acme/whatsapp-worker, mirror.acme/wa' });
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.config.worker.allowedRepositories).toEqual(['ghcr.io/acme/whatsapp-worker', 'mirror.acme/wa']);
    const flag = configOf({}, ['--worker-allowed-repositories=mirror.acme/wa']);
    if (!flag.ok) throw new Error(flag.errors.join());
    expect(flag.config.worker.allowedRepositories).toEqual(['mirror.acme/wa']);
  });

  test('tags, digests, wildcards and empty lists are refused, naming the entry', () => {
    for (const [raw, named] of [
      ['ghcr.io/acme/whatsapp-worker:1.4.0', 'ghcr.io/acme/whatsapp-worker:1.4.0'],
      [`ghcr.io/acme/w@${digest}`, `ghcr.io/acme/w@${digest}`],
      ['ghcr.io/acme/*', 'ghcr.io/acme/*'],
      ["ghcr.io/acme/x'||true", "ghcr.io/acme/x'||true"],
    ]) {
      const r = configOf({ WA_WORKER_ALLOWED_REPOSITORIES: raw! });
      expect(r.ok ? [] : r.errors).toEqual([
        `WA_WORKER_ALLOWED_REPOSITORIES: "${named}" is not a repository (host/path, without tag, digest or wildcard)`,
      ]);
    }
    const empty = configOf({ WA_WORKER_ALLOWED_REPOSITORIES: ' , ' });
    expect(empty.ok ? [] : empty.errors).toEqual([
      'WA_WORKER_ALLOWED_REPOSITORIES must name at least one repository',
    ]);
  });
});
