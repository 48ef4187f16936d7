/** Measuring pacing where it matters: the times the simulated phones received messages. */
import type { PhoneDelivery } from '../../../wa-sim/simulator.ts';

/** Most deliveries in any window of `windowMs` (sliding over the sorted receive times). */
export function busiestWindow(deliveries: PhoneDelivery[], windowMs: number): number {
  const times = deliveries.map((d) => d.at).sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * What a token bucket of `burst` and `ratePerMinute` lets through in any window of `windowMs`,
 * with `latencyMs` of slack: messages leave paced, but reach the phones after latencies that
 * differ from one message to the next, which can bring two of them closer together.
 */
export function bucketAllows(
  bucket: { burst: number; ratePerMinute: number },
  windowMs: number,
  latencyMs = 1_000,
): number {
  return bucket.burst + Math.floor((bucket.ratePerMinute * (windowMs + latencyMs)) / 60_000);
}

/** From the first delivery to the last. */
export function spanMs(deliveries: PhoneDelivery[]): number {
  const times = deliveries.map((d) => d.at);
  return Math.max(...times) - Math.min(...times);
}
