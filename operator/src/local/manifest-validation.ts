/**
 * Validation of a WhatsAppChannel manifest without an API server: the CRD's own
 * openAPIV3Schema (crds/, the same file the API server enforces), its CEL rule on pairing
 * by code, and what kubectl checks before sending (apiVersion, kind, metadata.name).
 * Unknown fields are refused, as `kubectl apply` does with its default strict field
 * validation. Defaults of the schema (pairing qr, suspend false, deletionPolicy Retain) are
 * filled in, so a validated manifest looks as the API server would store it.
 */
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { channelSchemaFromCrd, crdFile } from '../../../contract/crd-schema.ts';
import { API_VERSION, KIND, type WhatsAppChannel } from '../../../contract/index.ts';

type Json = Record<string, unknown>;

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** metadata.name and namespace: DNS-1123 labels/subdomains, as the API server requires. */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The structural schema as plain JSON Schema for Ajv: descriptions dropped, unknown fields refused. */
function toJsonSchema(node: unknown, path: string): unknown {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, path));
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === 'description' || k === 'format') continue;
    out[k] =
      k === 'properties'
        ? mapValues(v as Json, (child, name) => toJsonSchema(child, `${path}.${name}`))
        : toJsonSchema(v, path);
  }
  // Every object with known properties is closed, except the root (status, and metadata is separate).
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined && path !== '')
    out.additionalProperties = false;
  return out;
}

const mapValues = (o: Json, f: (v: unknown, k: string) => unknown): Json =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v, k)]));

let validator: ValidateFunction | undefined;
function compiled(): ValidateFunction {
  if (validator) return validator;
  const schema = toJsonSchema(channelSchemaFromCrd(crdFile(repoRoot)), '') as Json;
  // metadata is validated below (the CRD may only say `type: object` there).
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
  validator = ajv.compile(schema);
  return validator;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? [])
    .filter((e) => e.keyword !== 'anyOf')
    .map((e) => {
      const at = e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
      if (e.keyword === 'additionalProperties')
        return `${at === '(root)' ? '' : `${at}.`}${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`;
      if (e.keyword === 'required')
        return `${at === '(root)' ? '' : `${at}.`}${(e.params as { missingProperty: string }).missingProperty}: required`;
      if (e.keyword === 'enum')
        return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
      return `${at}: ${e.message ?? 'is invalid'}`;
    });
}

export type ManifestCheck = { ok: true; channel: WhatsAppChannel } | { ok: false; errors: string[] };

/** Checks one parsed YAML document; on success returns it with the schema's defaults applied. */
export function validateChannelManifest(doc: unknown): ManifestCheck {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return { ok: false, errors: ['not a YAML mapping'] };
  const value = structuredClone(doc) as Json;
  const errors: string[] = [];
  if (value.apiVersion !== API_VERSION) errors.push(`apiVersion: must be ${API_VERSION}`);
  if (value.kind !== KIND) errors.push(`kind: must be ${KIND}`);
  const metadata = (value.metadata ?? {}) as Json;
  if (typeof metadata !== 'object' || metadata === null) errors.push('metadata: must be a mapping');
  if (typeof metadata.name !== 'string' || !NAME.test(metadata.name) || metadata.name.length > 253)
    errors.push('metadata.name: required, lowercase letters, digits, "-" and "."');
  metadata.namespace ??= 'default';
  if (typeof metadata.namespace !== 'string' || !NAMESPACE.test(metadata.namespace))
    errors.push('metadata.namespace: lowercase letters, digits and "-"');
  const { metadata: _m, ...rest } = value;
  const validate = compiled();
  // Defaults are filled into `rest`'s objects, which are `value`'s own (a shallow copy).
  if (!validate({ ...rest, metadata: {} })) errors.push(...describe(validate.errors));
  const spec = value.spec as Json | undefined;
  // The CRD's CEL rule (the API server evaluates it; here it is one line).
  if (spec && spec.pairing === 'code' && spec.phoneNumber === undefined)
    errors.push(
      "spec.phoneNumber: required when spec.pairing is 'code' (the pairing code is requested for that number)",
    );
  if (errors.length > 0) return { ok: false, errors };
  value.metadata = metadata;
  return { ok: true, channel: value as unknown as WhatsAppChannel };
}
