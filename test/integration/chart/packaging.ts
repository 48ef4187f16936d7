/**
 * What the packaging tests share: the real helm and kubectl of the test stack, the chart
 * rendered into parsed objects, and the operator configuration a rendered Deployment gives.
 */
import { adminKubectl } from '../../harness/kubectl.ts';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { V1Container, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import { parseOperatorConfig, type OperatorConfig } from '../../../operator/src/config.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';

const run = promisify(execFile);
const stack = testStack();

export const chartDir = join(repoRoot, 'charts/whatsapp-operator');
export const ciValues = (name: 'minimal' | 'full' | 'plain-nats') =>
  join(chartDir, 'ci', `${name}-values.yaml`);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export const helm = (...args: string[]) => run(stack.bins.helm, args, { maxBuffer: 16 << 20 });
export const kubectl = adminKubectl();

/** A name no other test file uses on the shared API server. */
export const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** The stderr of a failed command (helm and kubectl explain themselves there). */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    return `${e.stderr ?? ''}${e.stdout ?? ''}`;
  }
  throw new Error('the command succeeded, but it was expected to fail');
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** `helm template` of the chart; returns the YAML text and the parsed objects. */
export async function renderChart(
  release: string,
  namespace: string,
  args: string[] = [],
): Promise<{ text: string; objects: K8sObject[] }> {
  const { stdout } = await helm('template', release, chartDir, '--namespace', namespace, ...args);
  return { text: stdout, objects: parseManifests(stdout) };
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the rendered manifests`);
  return found;
}

/** Writes manifests to a file in the run's folder (kubectl -f wants a file). */
export async function manifestFile(name: string, content: string | K8sObject[]): Promise<string> {
  const file = join(stack.workDir, `${name}-${Date.now()}.yaml`);
  const text = typeof content === 'string' ? content : content.map((o) => JSON.stringify(o)).join('\n---\n');
  await writeFile(file, text);
  return file;
}

/**
 * `kubectl apply --dry-run=server`: the real API server validates and admits, stores nothing.
 * `warnings` are the API server's (PodSecurity `warn` checks pod templates of Deployments).
 */
export async function serverDryRun(file: string): Promise<{ out: string; warnings: string }> {
  const { stdout, stderr } = await kubectl('apply', '--dry-run=server', '-f', file);
  return { out: stdout, warnings: stderr };
}

/** Labels that make the API server warn about any pod (template) that is not `restricted`. */
export const WARN_RESTRICTED = [
  'pod-security.kubernetes.io/warn=restricted',
  'pod-security.kubernetes.io/warn-version=latest',
];

export async function ensureNamespace(name: string, labels: string[] = []): Promise<void> {
  await kubectl('create', 'namespace', name).catch((err: { stderr?: string }) => {
    if (!err.stderr?.includes('AlreadyExists')) throw err;
  });
  if (labels.length) await kubectl('label', '--overwrite', 'namespace', name, ...labels);
}

export function operatorContainer(deployment: K8sObject): V1Container {
  return (deployment as unknown as V1Deployment).spec!.template.spec!.containers[0]!;
}

/** The plain `value` environment of a container (fieldRefs left out), as a map. */
export function plainEnv(container: V1Container): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? [])
      .filter((e: V1EnvVar) => e.value !== undefined)
      .map((e: V1EnvVar) => [e.name, e.value!]),
  );
}

/** The operator configuration that this environment gives (what the real process would parse). */
export function configFrom(env: Record<string, string>): OperatorConfig {
  const parsed = parseOperatorConfig(env);
  if (!parsed.ok)
    throw new Error(`the operator would refuse this configuration: ${parsed.errors.join('; ')}`);
  return parsed.config;
}

/** The CRD from crds/, applied to the shared API server and established (channels may be created then). */
export async function applyCrds(): Promise<void> {
  await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds'));
  await kubectl(
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/whatsappchannels.whatsapp.clinic.dev',
  );
}
