/** The send governor's pure parts, driven by explicit times (no real clock anywhere). */
import { AdaptiveRate } from '../../../worker/src/pacing/adaptive-rate.ts';
import { takeFromBudget } from '../../../worker/src/pacing/clinic-budget.ts';
import { contactOf, KnownContacts, type SealedBlob } from '../../../worker/src/pacing/known-contacts.ts';
import { DAY_MS, NewContactCap } from '../../../worker/src/pacing/new-contact-cap.ts';
import {
  DEFAULT_SEND_POLICY,
  parseClinicBudget,
  parseSendPolicy,
} from '../../../worker/src/pacing/send-policy.ts';
import { TokenBucket } from '../../../worker/src/pacing/token-bucket.ts';

describe('token bucket', () => {
  test('a full bucket lets the burst go at once, then one send per 60/rate seconds', () => {
    const bucket = new TokenBucket({ ratePerMinute: 30, burst: 3 }, 0);
    expect([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(bucket.waitMs(0)).toBe(2_000);
    expect(bucket.tryTake(1_999)).toBe(false);
    expect(bucket.tryTake(2_000)).toBe(true);
    // Quiet for a long time: never more than the burst.
    expect(bucket.available(10 * 60_000)).toBe(3);
  });

  test('the wait of the n-th queued send counts the sends ahead of it', () => {
    const bucket = new TokenBucket({ ratePerMinute: 60, burst: 1 }, 0);
    expect(bucket.tryTake(0)).toBe(true);
    expect(bucket.waitForPositionMs(0, 0)).toBe(1_000);
    expect(bucket.waitForPositionMs(0, 4)).toBe(5_000);
  });

  test('a refund gives the token back, capped at the burst; drain empties it; a new rate applies from now', () => {
    const bucket = new TokenBucket({ ratePerMinute: 60, burst: 2 }, 0);
    bucket.refund(0);
    expect(bucket.available(0)).toBe(2);
    bucket.tryTake(0);
    bucket.refund(0);
    expect(bucket.available(0)).toBe(2);
    bucket.drain(0);
    expect(bucket.available(0)).toBe(0);
    bucket.setRate(30, 0);
    expect(bucket.waitMs(0)).toBe(2_000);
  });

  test('a clock that steps back adds no tokens', () => {
    const bucket = new TokenBucket({ ratePerMinute: 60, burst: 1 }, 10_000);
    bucket.tryTake(10_000);
    expect(bucket.available(5_000)).toBe(0);
    expect(bucket.available(11_000)).toBe(1);
  });

  test('refuses a rate that is not positive and a burst below one', () => {
    expect(() => new TokenBucket({ ratePerMinute: 0, burst: 1 }, 0)).toThrow(/ratePerMinute/);
    expect(() => new TokenBucket({ ratePerMinute: 1, burst: 0 }, 0)).toThrow(/burst/);
  });
});

describe('adaptive rate', () => {
  const options = { ratePerMinute: 40, floorPerMinute: 1, holdMs: 30_000, stepMs: 60_000 };

  test('a refusal halves the rate; refusals within the hold time halve once', () => {
    const rate = new AdaptiveRate(options);
    expect(rate.refused(1_000)).toBe(20);
    expect(rate.refused(2_000)).toBe(20);
    // At the end of the hold the first recovery step (24) has come: the next refusal halves that.
    expect(rate.refused(31_000)).toBe(12);
    expect(rate.reduced(31_000)).toBe(true);
  });

  test('recovers by a tenth of the policy per step after the hold, up to the policy and no further', () => {
    const rate = new AdaptiveRate(options);
    rate.refused(0);
    expect(rate.current(29_999)).toBe(20);
    expect(rate.current(30_000)).toBe(24);
    expect(rate.current(90_000)).toBe(28);
    expect(rate.nextChangeAt(90_000)).toBe(150_000);
    expect(rate.current(30_000 + 4 * 60_000)).toBe(40);
    expect(rate.reduced(30_000 + 4 * 60_000)).toBe(false);
    expect(rate.nextChangeAt(10 * 60_000)).toBeUndefined();
    expect(rate.current(10 * 60_000)).toBe(40);
  });

  test('never below the floor', () => {
    const rate = new AdaptiveRate({ ...options, ratePerMinute: 3 });
    rate.refused(0);
    rate.refused(30_000);
    expect(rate.refused(60_000)).toBe(1);
  });
});

function contacts(entries: Record<string, number> = {}) {
  const firstSends = new Map(Object.entries(entries));
  const known = new Set<string>(['15550009999@s.whatsapp.net']);
  return {
    firstSends,
    has: (c: string) => known.has(c) || firstSends.has(c),
    firstSendsSince: (since: number) => [...firstSends.values()].filter((t) => t > since),
  };
}

describe('daily cap on first messages', () => {
  test('a known contact always passes; new ones until the cap, counting those in flight', () => {
    const view = contacts();
    const cap = new NewContactCap(2, view);
    expect(cap.reserve('15550009999@s.whatsapp.net', 0)).toEqual({ ok: true, newContact: false });
    expect(cap.reserve('1555000001@s.whatsapp.net', 0)).toEqual({ ok: true, newContact: true });
    expect(cap.reserve('1555000002@s.whatsapp.net', 0)).toEqual({ ok: true, newContact: true });
    expect(cap.reserve('1555000003@s.whatsapp.net', 0).ok).toBe(false);
    // The second send failed: its place is free again.
    cap.cancel('1555000002@s.whatsapp.net');
    expect(cap.reserve('1555000003@s.whatsapp.net', 0).ok).toBe(true);
  });

  test('the window rolls: the retry-after is when the oldest counted first message is a day old', () => {
    const view = contacts({ 'a@s.whatsapp.net': 1_000, 'b@s.whatsapp.net': 5_000 });
    const cap = new NewContactCap(2, view);
    const now = 60_000;
    expect(cap.reserve('c@s.whatsapp.net', now)).toEqual({ ok: false, retryAfterMs: 1_000 + DAY_MS - now });
    expect(cap.usedAt(now)).toBe(2);
    expect(cap.reserve('c@s.whatsapp.net', 1_000 + DAY_MS)).toEqual({ ok: true, newContact: true });
    expect(cap.usedAt(1_000 + DAY_MS)).toBe(1);
  });

  test('a cap of 0 allows no first message at all', () => {
    const cap = new NewContactCap(0, contacts());
    expect(cap.reserve('new@s.whatsapp.net', 0).ok).toBe(false);
    expect(cap.reserve('15550009999@s.whatsapp.net', 0).ok).toBe(true);
  });
});

class MemoryBlob implements SealedBlob {
  body: Uint8Array | undefined;
  writes = 0;
  fail = false;
  async read() {
    return this.body;
  }
  async write(body: Uint8Array) {
    if (this.fail) throw new Error('store down');
    this.writes++;
    this.body = body;
  }
}

describe('known contacts', () => {
  test('one contact across devices', () => {
    expect(contactOf('15550002222:7@s.whatsapp.net')).toBe('15550002222@s.whatsapp.net');
    expect(contactOf('12345_1:3@lid')).toBe('12345@lid');
  });

  test('what was learnt survives a reopen; contacts who wrote first are not first messages', async () => {
    const blob = new MemoryBlob();
    const first = await KnownContacts.open(blob);
    first.sentTo('15550001001@s.whatsapp.net', 100);
    expect(first.receivedFrom('15550001002:2@s.whatsapp.net', 200)).toBe(true);
    expect(first.receivedFrom('15550001002@s.whatsapp.net', 250)).toBe(false);
    first.sentTo('15550001002@s.whatsapp.net', 300);
    await first.flush();
    const again = await KnownContacts.open(blob);
    expect(again.has('15550001001@s.whatsapp.net')).toBe(true);
    expect(again.has('15550001002@s.whatsapp.net')).toBe(true);
    expect(again.firstSendsSince(0)).toEqual([100]);
  });

  test('a failed write is retried by the next flush; flush rejects meanwhile', async () => {
    const blob = new MemoryBlob();
    const known = await KnownContacts.open(blob);
    blob.fail = true;
    known.sentTo('a@s.whatsapp.net', 1);
    await expect(known.flush()).rejects.toThrow('store down');
    blob.fail = false;
    await known.flush();
    expect((await KnownContacts.open(blob)).has('a@s.whatsapp.net')).toBe(true);
  });

  test('past the bound the oldest are forgotten, but not first messages of the last day', async () => {
    const known = await KnownContacts.open(new MemoryBlob(), 2);
    known.sentTo('recent@s.whatsapp.net', DAY_MS);
    known.receivedFrom('old@s.whatsapp.net', DAY_MS);
    known.receivedFrom('newest@s.whatsapp.net', DAY_MS + 1);
    expect(known.size).toBe(2);
    expect(known.has('recent@s.whatsapp.net')).toBe(true);
    expect(known.has('old@s.whatsapp.net')).toBe(false);
  });
});

describe('send policy (WA_SEND_POLICY)', () => {
  test('absent: the safe defaults', () => {
    expect(parseSendPolicy(undefined)).toEqual({ ok: true, policy: DEFAULT_SEND_POLICY });
  });

  test('given fields override, maxWaitSeconds in seconds', () => {
    const parsed = parseSendPolicy('{"ratePerMinute":6,"burst":2,"maxWaitSeconds":10,"jitterMs":500}');
    expect(parsed).toEqual({
      ok: true,
      policy: { ...DEFAULT_SEND_POLICY, ratePerMinute: 6, burst: 2, maxWaitMs: 10_000, jitterMs: 500 },
    });
  });

  test('a bad value is refused with the field named', () => {
    expect(parseSendPolicy('{"ratePerMinute":0}')).toEqual({
      ok: false,
      error: 'WA_SEND_POLICY: ratePerMinute must be an integer from 1 to 600',
    });
    expect(parseSendPolicy('{"maxWaitSeconds":120}')).toEqual({
      ok: false,
      error: 'WA_SEND_POLICY: maxWaitSeconds must be an integer from 0 to 50',
    });
    expect(parseSendPolicy('{"rate":1}')).toEqual({ ok: false, error: 'WA_SEND_POLICY: unknown field rate' });
    expect(parseSendPolicy('[1]').ok).toBe(false);
    expect(parseSendPolicy('{').ok).toBe(false);
  });
});

describe("the clinic's shared budget (its stored state)", () => {
  const settings = { ratePerMinute: 60, burst: 2 };

  test('no state yet is a full bucket; each take stores what is left', () => {
    const first = takeFromBudget(undefined, settings, 1_000);
    expect(first).toEqual({ ok: true, next: { tokens: 1, at: 1_000 } });
    const second = takeFromBudget(first.ok ? first.next : undefined, settings, 1_000);
    expect(second).toEqual({ ok: true, next: { tokens: 0, at: 1_000 } });
    expect(takeFromBudget({ tokens: 0, at: 1_000 }, settings, 1_250)).toEqual({ ok: false, waitMs: 750 });
    expect(takeFromBudget({ tokens: 0, at: 1_000 }, settings, 2_000)).toEqual({
      ok: true,
      next: { tokens: 0, at: 2_000 },
    });
  });

  test('refills up to the burst only; a taker whose clock is behind the stored time adds nothing', () => {
    expect(takeFromBudget({ tokens: 0, at: 0 }, settings, 3_600_000)).toEqual({
      ok: true,
      next: { tokens: 1, at: 3_600_000 },
    });
    expect(takeFromBudget({ tokens: 0.5, at: 10_000 }, settings, 5_000)).toEqual({ ok: false, waitMs: 500 });
  });

  test('WA_CLINIC_SEND_BUDGET: the default when absent, the fields when given, errors naming the field', () => {
    const defaults = { ratePerMinute: 120, burst: 30 };
    expect(parseClinicBudget(undefined, defaults)).toEqual({ ok: true, budget: defaults });
    expect(parseClinicBudget('{"ratePerMinute":60,"burst":10}', defaults)).toEqual({
      ok: true,
      budget: { ratePerMinute: 60, burst: 10 },
    });
    expect(parseClinicBudget('{"burst":0}', defaults)).toEqual({
      ok: false,
      error: 'WA_CLINIC_SEND_BUDGET: burst must be an integer from 1 to 10000',
    });
    expect(parseClinicBudget('{"rate":1}', defaults).ok).toBe(false);
    expect(parseClinicBudget('x', defaults).ok).toBe(false);
  });
});
