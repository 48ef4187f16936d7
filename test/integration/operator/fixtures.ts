import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, CRD_NAME, KIND } from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';

type Kubectl = (...args: string[]) => Promise<{ stdout: string; stderr: string }>;

/** The CRD installed and a namespace ready for worker pods (their ServiceAccount exists). */
export async function prepareNamespace(kubectl: Kubectl, ns: string, labels: string[] = []): Promise<void> {
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  await kubectl('create', 'namespace', ns);
  if (labels.length) await kubectl('label', 'namespace', ns, ...labels);
  await kubectl('create', 'serviceaccount', 'whatsapp-worker', '-n', ns);
}

/** Applies a WhatsAppChannel named `name` (its channelId too) with kubectl, as a user would. */
export async function applyChannel(
  kubectl: Kubectl,
  workDir: string,
  ns: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const file = join(workDir, `${ns}-${name}-${Date.now()}.json`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name, namespace: ns },
      spec: { channelId: name, ...spec },
    }),
  );
  await kubectl('apply', '-f', file);
}
