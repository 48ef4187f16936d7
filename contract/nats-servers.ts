/**
 * `NATS_URL` as operator, worker and CLI read it: one server URL, or several separated by commas
 * (the form nats-server clients take for a cluster). The operator passes its value unchanged to
 * every worker pod, so both must read it the same way.
 */
export function natsServers(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
