import { DeafDetector } from '../../../worker/src/session/deaf-detector.ts';

const opts = { silentAfterMs: 100_000, sendAckTimeoutMs: 60_000, maxSelfCheckFailures: 2 };

describe('deaf session detection', () => {
  test('a session that keeps receiving frames is not deaf', () => {
    const d = new DeafDetector(opts, 0);
    for (let t = 0; t <= 1_000_000; t += 30_000) {
      d.frameReceived(t);
      expect(d.check(t + 1)).toBeUndefined();
    }
  });

  test('silence for the configured time is deaf', () => {
    const d = new DeafDetector(opts, 0);
    d.frameReceived(10_000);
    expect(d.check(109_999)).toBeUndefined();
    expect(d.check(110_000)).toBe('silent');
  });

  test('a sent message without a server ack is deaf after the timeout; an ack clears it', () => {
    const d = new DeafDetector(opts, 0);
    d.messageSent('m1', 1000);
    d.messageSent('m2', 2000);
    d.frameReceived(61_000);
    expect(d.check(61_000)).toBe('send-not-acked');
    d.messageAcked('m1');
    expect(d.check(61_000)).toBeUndefined();
    expect(d.unackedCount).toBe(1);
    expect(d.check(62_000)).toBe('send-not-acked');
  });

  test('self-check failures must be consecutive', () => {
    const d = new DeafDetector(opts, 0);
    d.selfCheck(false);
    d.selfCheck(true);
    d.selfCheck(false);
    expect(d.check(1)).toBeUndefined();
    d.selfCheck(false);
    expect(d.check(1)).toBe('self-check-failed');
  });
});
