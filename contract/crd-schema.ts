/**
 * The WhatsAppChannel schema as the CRD in crds/ states it (the file the API server enforces), for
 * the code that needs it without an API server: the generated types (contract/generate.ts) and
 * local mode's manifest validation (operator/src/local/manifest-validation.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CRD_NAME, VERSION } from './resource.ts';

type Json = Record<string, unknown>;

/** Where the CRD is, from the repository root. */
export const crdFile = (root: string) => join(root, 'crds', `${CRD_NAME}.yaml`);

/** The served version's openAPIV3Schema, without Kubernetes' `x-kubernetes-*` extensions. */
export function channelSchemaFromCrd(file: string): Json {
  const crd = parse(readFileSync(file, 'utf8')) as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Json } }> };
  };
  const version = crd.spec.versions.find((v) => v.name === VERSION);
  if (!version) throw new Error(`${file}: no ${VERSION} version`);
  return withoutKubernetesExtensions(version.schema.openAPIV3Schema) as Json;
}

function withoutKubernetesExtensions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutKubernetesExtensions);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json))
    if (!k.startsWith('x-kubernetes-')) out[k] = withoutKubernetesExtensions(v);
  return out;
}
