import type { StatusEvent } from '../../../contract/index.ts';
import { Freshness } from '../../../operator/src/controller/freshness.ts';
import { isNewer } from '../../../operator/src/nats/status-reports.ts';

describe('read-your-writes freshness', () => {
  test('a key is stale after a write until the cache shows it, or the note expires', () => {
    let now = 0;
    const f = new Freshness<{ rv: string }>(1_000, () => now);
    expect(f.staleFor('k', { rv: '1' })).toBe(0);
    f.expect('k', (c) => c?.rv !== '1');
    expect(f.staleFor('k', { rv: '1' })).toBe(1_000);
    now = 400;
    expect(f.staleFor('k', { rv: '1' })).toBe(600);
    expect(f.staleFor('k', { rv: '2' })).toBe(0); // the watch delivered our write
    expect(f.size).toBe(0);
    f.expect('k', () => false);
    now = 1_500;
    expect(f.staleFor('k', undefined)).toBe(0); // expired: trust the cache again
  });
});

describe('status report order', () => {
  const r = (at: string, seq: number) => ({ at, seq }) as StatusEvent;
  test('later time wins; the same millisecond is ordered by seq; a restarted container (seq from 1) is newer', () => {
    expect(isNewer(r('2026-01-01T00:00:01Z', 1), r('2026-01-01T00:00:00Z', 50))).toBe(true);
    expect(isNewer(r('2026-01-01T00:00:00Z', 50), r('2026-01-01T00:00:01Z', 1))).toBe(false);
    expect(isNewer(r('2026-01-01T00:00:00Z', 2), r('2026-01-01T00:00:00Z', 1))).toBe(true);
    expect(isNewer(r('2026-01-01T00:00:00Z', 1), r('2026-01-01T00:00:00Z', 1))).toBe(false);
  });
});
