import { join } from 'node:path';
import { CRD_NAME } from '../../../contract/index.ts';
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
