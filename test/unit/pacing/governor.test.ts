/** The send governor on a fake clock: when permits are handed out, and what is refused and why. */
import {
  RateLimitedError,
  SendGovernor,
  type ClinicBudget,
  type ContactLedger,
  type Permit,
  type Timers,
} from '../../../worker/src/pacing/governor.ts';
import { DEFAULT_SEND_POLICY, type SendPolicy } from '../../../worker/src/pacing/send-policy.ts';

class FakeTimers implements Timers {
  time = 0;
  private next = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (handle: unknown) => void this.pending.delete(handle as number);

  /** Moves the clock to `until`, running each due timer at its own time (and what it awaits). */
  async advanceTo(until: number): Promise<void> {
    for (;;) {
      await settle();
      const due = [...this.pending.entries()]
        .filter(([, t]) => t.at <= until)
        .sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].fn();
    }
    this.time = until;
    await settle();
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

class Ledger implements ContactLedger {
  readonly first = new Map<string, number>();
  readonly known = new Set<string>();
  has = (c: string) => this.known.has(c) || this.first.has(c);
  firstSendsSince = (since: number) => [...this.first.values()].filter((t) => t > since);
  sentTo = (c: string, now: number) => void (this.has(c) || this.first.set(c, now));
  flush = async () => undefined;
}

function governor(policy: Partial<SendPolicy>, extra: { clinic?: ClinicBudget; random?: () => number } = {}) {
  const timers = new FakeTimers();
  const contacts = new Ledger();
  const gov = new SendGovernor({
    policy: { ...DEFAULT_SEND_POLICY, ...policy },
    contacts,
    timers,
    random: extra.random ?? (() => 0),
    clinic: extra.clinic,
  });
  return { gov, timers, contacts };
}

const jid = (n: number) => `1555100${String(n).padStart(4, '0')}@s.whatsapp.net`;

/** Admits `n` sends at once; records the fake time each permit came, and sends it. */
function burst(gov: SendGovernor, timers: FakeTimers, n: number, prefer: 'wait' | 'refuse' = 'wait') {
  const times: number[] = [];
  const refused: RateLimitedError[] = [];
  const all = Array.from({ length: n }, (_, i) =>
    gov.admit(jid(i), prefer).then(
      async (permit: Permit) => {
        times.push(timers.now());
        await permit.sent();
      },
      (err: unknown) => {
        if (!(err instanceof RateLimitedError)) throw err;
        refused.push(err);
      },
    ),
  );
  return { times, refused, all: Promise.all(all) };
}

describe('send governor', () => {
  test('a burst that waits goes out at the policy: the bucket first, then one per 60/rate seconds', async () => {
    const { gov, timers } = governor({ ratePerMinute: 60, burst: 3, newContactsPerDay: 100 });
    const run = burst(gov, timers, 8);
    await timers.advanceTo(0);
    expect(gov.queueDepth).toBe(5);
    await timers.advanceTo(10_000);
    await run.all;
    expect(run.refused).toEqual([]);
    expect(run.times).toEqual([0, 0, 0, 1_000, 2_000, 3_000, 4_000, 5_000]);
    expect(gov.queueDepth).toBe(0);
  });

  test('a send that prefers refuse gets RateLimited with the time its turn would come', async () => {
    const { gov, timers } = governor({ ratePerMinute: 30, burst: 1 });
    await (await gov.admit(jid(1), 'refuse')).sent();
    const err = await gov.admit(jid(2), 'refuse').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).reason).toBe('rate');
    expect((err as RateLimitedError).retryAfterMs).toBe(2_000);
    await timers.advanceTo(2_000);
    await expect(gov.admit(jid(2), 'refuse')).resolves.toBeDefined();
  });

  test('past the queue limit, or a wait longer than maxWaitMs, sends are refused, never dropped', async () => {
    const { gov, timers } = governor({
      ratePerMinute: 60,
      burst: 1,
      queueLimit: 3,
      maxWaitMs: 10_000,
      newContactsPerDay: 100,
    });
    const run = burst(gov, timers, 6);
    await timers.advanceTo(20_000);
    await run.all;
    expect(run.times).toEqual([0, 1_000, 2_000, 3_000]);
    expect(run.refused.map((e) => e.reason)).toEqual(['queue-full', 'queue-full']);
    expect(run.refused.every((e) => e.retryAfterMs >= 3_000)).toBe(true);

    const slow = governor({ ratePerMinute: 6, burst: 1, maxWaitMs: 15_000, newContactsPerDay: 100 });
    const run2 = burst(slow.gov, slow.timers, 4);
    await slow.timers.advanceTo(60_000);
    await run2.all;
    // 10 s per send: the second waits 10 s, the third would wait 20 s > 15 s.
    expect(run2.times).toEqual([0, 10_000]);
    expect(run2.refused.map((e) => e.reason)).toEqual(['rate', 'rate']);
  });

  test('the daily cap refuses first messages past it, but not messages to known contacts', async () => {
    const { gov, timers, contacts } = governor({ ratePerMinute: 600, burst: 10, newContactsPerDay: 2 });
    contacts.known.add(jid(99));
    const run = burst(gov, timers, 3);
    await timers.advanceTo(1_000);
    await run.all;
    expect(run.times).toHaveLength(2);
    expect(run.refused).toHaveLength(1);
    expect(run.refused[0]!.reason).toBe('new-contacts');
    // Refused while the two first messages were still in flight: no stored time to point at yet.
    expect(run.refused[0]!.retryAfterMs).toBe(60_000);
    // Now both are stored (sent at 0): the next place frees a day after the older one.
    const later = await gov.admit(jid(3), 'wait').catch((e: unknown) => e);
    expect((later as RateLimitedError).retryAfterMs).toBe(24 * 3600 * 1000 - 1_000);
    expect(gov.newContactsToday).toBe(2);
    const permit = await gov.admit(jid(99), 'refuse');
    expect(permit.newContact).toBe(false);
  });

  test('a permit not used comes back: the token and the new-contact place', async () => {
    const { gov } = governor({ ratePerMinute: 1, burst: 1, newContactsPerDay: 1 });
    const permit = await gov.admit(jid(1), 'refuse');
    permit.notSent();
    const again = await gov.admit(jid(2), 'refuse');
    expect(again.newContact).toBe(true);
    expect(() => again.notSent()).not.toThrow();
    expect(() => again.notSent()).toThrow(/settled twice/);
  });

  test('a send WhatsApp refused for rate gives its new-contact place back, but not its token', async () => {
    const { gov } = governor({ ratePerMinute: 1, burst: 1, newContactsPerDay: 1 });
    const permit = await gov.admit(jid(1), 'refuse');
    gov.whatsappRefused();
    permit.notSent({ refund: false });
    const err = await gov.admit(jid(2), 'refuse').catch((e: unknown) => e);
    // Refused for rate (no token), not for the cap (the place is free again).
    expect((err as RateLimitedError).reason).toBe('rate');
  });

  test("WhatsApp's refusal halves the rate, empties the bucket, and the rate recovers over minutes", async () => {
    const { gov, timers } = governor({ ratePerMinute: 60, burst: 5, newContactsPerDay: 1000 });
    gov.whatsappRefused();
    expect(gov.throttled).toBe(true);
    expect(gov.ratePerMinute).toBe(30);
    const run = burst(gov, timers, 3);
    await timers.advanceTo(10_000);
    await run.all;
    // No burst after a refusal; one send per 2 s.
    expect(run.times).toEqual([2_000, 4_000, 6_000]);
    await timers.advanceTo(30_000 + 4 * 60_000);
    expect(gov.ratePerMinute).toBe(60);
    expect(gov.throttled).toBe(false);
  });

  test('jitter spaces sends by a random extra delay', async () => {
    const randoms = [0.5, 0.25, 0];
    const { gov, timers } = governor(
      { ratePerMinute: 600, burst: 10, jitterMs: 4_000, newContactsPerDay: 100 },
      { random: () => randoms.shift() ?? 0 },
    );
    const run = burst(gov, timers, 3);
    await timers.advanceTo(10_000);
    await run.all;
    expect(run.times).toEqual([0, 2_000, 3_000]);
  });

  test("the clinic's budget holds sends back like the channel's bucket", async () => {
    let clinicTokens = 2;
    const clinic: ClinicBudget = {
      take: async () => (clinicTokens > 0 ? (clinicTokens--, { ok: true }) : { ok: false, waitMs: 5_000 }),
    };
    const { gov, timers } = governor({ ratePerMinute: 600, burst: 10, newContactsPerDay: 100 }, { clinic });
    const refused = await gov.admit(jid(1), 'refuse').then(async (p) => {
      await p.sent();
      await (await gov.admit(jid(2), 'refuse')).sent();
      return gov.admit(jid(3), 'refuse').catch((e: unknown) => e);
    });
    expect((refused as RateLimitedError).reason).toBe('clinic');
    const waiting = gov.admit(jid(4), 'wait');
    await timers.advanceTo(4_000);
    clinicTokens = 1;
    await timers.advanceTo(6_000);
    await expect(waiting).resolves.toBeDefined();
  });

  test('stop refuses every waiting send', async () => {
    const { gov, timers } = governor({ ratePerMinute: 1, burst: 1, newContactsPerDay: 100 });
    const run = burst(gov, timers, 3);
    await timers.advanceTo(0);
    gov.stop();
    await run.all;
    expect(run.times).toEqual([0]);
    expect(run.refused).toHaveLength(2);
  });
});
