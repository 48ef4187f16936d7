/**
 * The worker container's resources: the operator's defaults, overridden by the channel's own.
 *
 * A channel that sets only a limit (say `limits.memory: 128Mi`) below the operator's default
 * request (192Mi) would otherwise get a pod the API server refuses ("must be less than or equal
 * to memory limit"), and the channel would sit in PodCreateFailed. Kubernetes itself defaults a
 * missing request to the limit, so a default request above the channel's limit is lowered to
 * it. A request the channel set itself is never changed: if it is above the limit, the API
 * server's refusal names the channel's own mistake.
 */
import type { V1ResourceRequirements } from '@kubernetes/client-node';

type Quantities = Record<string, string>;

const SUFFIXES: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("250m", "192Mi", "1.5", "2e3") as a number, or undefined if unreadable. */
export function quantityValue(quantity: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(m|k|K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(
    quantity.trim(),
  );
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIXES[m[3] ?? '']!;
}

const asStrings = (values: Record<string, unknown> | undefined): Quantities =>
  Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, String(v)]));

export function workerResources(
  defaults: { requests: Quantities; limits: Quantities },
  own: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } | undefined,
): V1ResourceRequirements {
  const ownRequests = asStrings(own?.requests);
  const requests = { ...defaults.requests, ...ownRequests };
  const limits = { ...defaults.limits, ...asStrings(own?.limits) };
  for (const [name, limit] of Object.entries(limits)) {
    const request = requests[name];
    if (request === undefined || name in ownRequests) continue;
    const [r, l] = [quantityValue(request), quantityValue(limit)];
    if (r !== undefined && l !== undefined && r > l) requests[name] = limit;
  }
  return { requests, limits };
}
