import type { NatsConnection } from 'nats';
import { LOGGED_OUT_BY_COMMAND, type StatusEvent } from '../../../contract/index.ts';
import { Freshness } from '../../../operator/src/controller/freshness.ts';
import { isNewer, StatusReports } from '../../../operator/src/nats/status-reports.ts';

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

describe('a logout by command, as the workers report it', () => {
  /** StatusReports fed through its subscription callback, as nats delivers reports. */
  function fed() {
    let deliver: (data: Uint8Array) => void = () => undefined;
    const nc = {
      subscribe: (_subject: string, o: { callback: (err: unknown, msg: { data: Uint8Array }) => void }) => {
        deliver = (data) => o.callback(null, { data });
        return { unsubscribe: () => undefined };
      },
    } as unknown as NatsConnection;
    const reports = new StatusReports(() => nc);
    reports.start(() => undefined);
    const send = (worker: string, at: string, phase: StatusEvent['phase'], reason?: string) =>
      deliver(
        new TextEncoder().encode(
          JSON.stringify({
            v: 1,
            clinicId: 'a',
            channelId: 'front',
            worker,
            phase,
            ...(reason ? { reason } : {}),
            reconnects: 0,
            degraded: false,
            at,
            seq: 1,
          }),
        ),
      );
    return { reports, send };
  }

  test('outlives the worker that reported it, until a device is linked again', () => {
    const { reports, send } = fed();
    send('pod_1', '2026-01-01T00:00:00Z', 'Connected');
    expect(reports.loggedOutByCommand('a', 'front')).toBe(false);
    send('pod_1', '2026-01-01T00:00:01Z', 'Disconnected', LOGGED_OUT_BY_COMMAND);
    expect(reports.loggedOutByCommand('a', 'front')).toBe(true);
    // The next container of the pod starts unlinked: still logged out.
    send('pod_1', '2026-01-01T00:00:02Z', 'QRRequired', 'AwaitingQRScan');
    expect(reports.loggedOutByCommand('a', 'front')).toBe(true);
    expect(reports.loggedOutByCommand('a', 'other')).toBe(false);
    // A late Connected of another worker, older than the logout, changes nothing.
    send('pod_0', '2026-01-01T00:00:00.500Z', 'Connected');
    expect(reports.loggedOutByCommand('a', 'front')).toBe(true);
    // Paired again: linked.
    send('pod_1', '2026-01-01T00:00:03Z', 'Connected');
    expect(reports.loggedOutByCommand('a', 'front')).toBe(false);
  });

  test('a deleted channel is forgotten', () => {
    const { reports, send } = fed();
    send('pod_1', '2026-01-01T00:00:01Z', 'Disconnected', LOGGED_OUT_BY_COMMAND);
    reports.forget('a', 'front');
    expect(reports.loggedOutByCommand('a', 'front')).toBe(false);
  });
});
