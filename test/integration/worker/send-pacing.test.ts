import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import type { CommandReply } from '../../../contract/index.ts';
import { channelStatePrefix } from '../../../contract/state-layout.ts';
import { bucketAllows, busiestWindow, spanMs } from './phone-timing.ts';
import { command, eventually, storedInbound, WorkerSuite, type ChannelEnv } from './worker-harness.ts';

/**
 * Send pacing through a real worker process against the simulator, measured where it matters:
 * at the phones (the simulator's receive log and its timestamps), not from the worker's counters.
 *
 * - WhatsApp answering rate-overlimit: the channel slows down (halves, no burst), reports it in
 *   its status (`pacing.throttled`, the operator's RateLimited condition), and loses nothing;
 * - a burst of 200 sends to new contacts: the daily cap lets exactly its number through, each
 *   once, and the phones receive them no faster than the token bucket allows; the cap survives a
 *   worker restart (the known contacts are stored sealed, not in plaintext).
 */

quietLibsignal();
const suite = new WorkerSuite('wpace');

/** Sends may wait up to 50 s for their turn: the request waits longer than that. */
const send = (env: ChannelEnv, body: Record<string, unknown>): Promise<CommandReply> =>
  command(suite.nc, env.clinic, env.channel, 'send', body, 70_000);

const policy = (p: Record<string, number>) => ({ WA_SEND_POLICY: JSON.stringify(p) });

/**
 * A send as a clinic backend makes it: NotConnected (the session dropped; nothing was sent) is
 * retried with the same key after a second. On a loaded machine the in-process simulator can
 * miss a keep-alive during the burst; the counts below stay exact either way.
 */
async function sendAsBackend(env: ChannelEnv, body: Record<string, unknown>): Promise<CommandReply> {
  for (;;) {
    const reply = await send(env, body);
    if (reply.ok || reply.error.code !== 'NotConnected') return reply;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

test('WhatsApp answers rate-overlimit: the channel halves its rate, shows it, and delivers every message once', async () => {
  const PHONE = '5511900000071';
  const env = suite.envFor('overlimit');
  const { watch } = await suite.pair(
    env,
    'pod-o1',
    PHONE,
    policy({ ratePerMinute: 120, burst: 2, newContactsPerDay: 100, maxWaitSeconds: 50 }),
  );
  const contacts = Array.from({ length: 6 }, (_, i) => suite.sim.contact(`55119710000${i}`));
  // The next two device queries (the first two sends to someone new) get 429 rate-overlimit.
  suite.sim.rateOverlimit({ times: 2 });

  const replies = Promise.all(
    contacts.map((c, i) => send(env, { idempotencyKey: `ol-${i}`, to: `+${c.pn}`, text: `overlimit ${i}` })),
  );
  // While the channel is slowed down, a command that prefers not to wait is refused at once.
  await eventually('the channel reports it is throttled', async () =>
    watch.status.find((s) => s.pacing?.throttled === true),
  );
  const impatient = await send(env, {
    idempotencyKey: 'ol-impatient',
    to: `+${contacts[0]!.pn}`,
    text: 'no waiting',
    whenRateLimited: 'refuse',
  });
  expect(impatient).toMatchObject({ ok: false, error: { code: 'RateLimited' } });
  expect(!impatient.ok && impatient.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  expect(!impatient.ok && impatient.error.message).toMatch(/WhatsApp refused/);

  // Nothing lost: every send was answered ok, after the worker sent it again at the slower rate.
  const answered = await replies;
  for (const r of answered) expect(r).toMatchObject({ ok: true });
  const refusals = suite.sim.rateLimits().refusals;
  expect(refusals).toHaveLength(2);

  const received = await eventually('six messages at the phones', async () => {
    const got = suite.sim.received(PHONE);
    return got.length >= 6 && got;
  });
  // Each contact exactly once, with the id its command was answered with; the refused one never.
  expect(received).toHaveLength(6);
  expect(received.map((d) => d.to).sort()).toEqual(contacts.map((c) => c.pn).sort());
  expect(new Set(received.map((d) => d.id))).toEqual(
    new Set(answered.map((r) => (r.ok ? (r.result.messageId as string) : ''))),
  );
  expect(contacts[0]!.inbox.some((m) => m.text === 'no waiting')).toBe(false);

  // Slowed down, measured at the phones: after the refusal the bucket was empty and refilled at
  // 60 a minute (half of 120), so the n-th message arrived at least n seconds after it.
  const refusedAt = refusals[0]!.at;
  const times = received.map((d) => d.at).sort((a, b) => a - b);
  times.forEach((at, n) => expect(at - refusedAt).toBeGreaterThanOrEqual((n + 1) * 1_000 - 50));
  const throttled = watch.status.find((s) => s.pacing?.throttled === true)!;
  expect(throttled.pacing).toEqual({ throttled: true, ratePerMinute: 60 });
  expect(throttled.phase).toBe('Connected');
  expect(watch.invalid).toEqual([]);
  expect(suite.sim.problems()).toEqual([]);
  watch.stop();
});

test('a burst of 200 sends to new contacts: the daily cap lets exactly its number through, spread by the bucket at the phones', async () => {
  const PHONE = '5511900000072';
  const RATE = 300; // a minute: one every 200 ms
  const BURST = 10;
  const CAP = 100;
  const env = suite.envFor('burst');
  const limits = {
    ratePerMinute: RATE,
    burst: BURST,
    newContactsPerDay: CAP,
    queueLimit: 200,
    maxWaitSeconds: 50,
  };
  const { worker, watch } = await suite.pair(env, 'pod-b1', PHONE, policy(limits));
  const contacts = Array.from({ length: 200 }, (_, i) =>
    suite.sim.contact(`5511972${String(i).padStart(5, '0')}`),
  );

  const replies = await Promise.all(
    contacts.map((c, i) =>
      sendAsBackend(env, { idempotencyKey: `b-${i}`, to: `+${c.pn}`, text: `burst ${i}` }),
    ),
  );
  const sent = replies.flatMap((r, i) =>
    r.ok ? [{ to: contacts[i]!.pn, id: r.result.messageId as string }] : [],
  );
  const refused = replies.flatMap((r) => (r.ok ? [] : [r.error]));
  // Every refusal is the daily cap's; everything else was sent (the first error shown if not).
  expect({
    sent: sent.length,
    refused: refused.length,
    other: refused.find((e) => !e.message.includes('newContactsPerDay')),
  }).toEqual({
    sent: CAP,
    refused: 200 - CAP,
    other: undefined,
  });
  for (const e of refused) {
    expect(e).toMatchObject({ code: 'RateLimited', message: expect.stringContaining('newContactsPerDay') });
    expect(e.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  }

  // At the phones: each of the first-contacted exactly once, nobody else.
  const received = await eventually(
    `${CAP} messages at the phones`,
    async () => {
      const got = suite.sim.received(PHONE);
      return got.length >= CAP && got;
    },
    60_000,
  );
  expect(received).toHaveLength(CAP);
  expect(received.map((d) => `${d.to} ${d.id}`).sort()).toEqual(sent.map((s) => `${s.to} ${s.id}`).sort());

  // Spread by the token bucket: in any window of W ms the phones got at most BURST + RATE·W
  // (W widened by 2 s for the difference in send-to-phone latency between messages: the phones'
  // clock is the in-process simulator's, which decrypts each of the 100 messages on this test's
  // event loop, beside 200 pending requests; with 1 s, a run at load ~6 under three jest workers
  // counted 69 where 65 were allowed); an unpaced worker delivers them within a few seconds.
  for (const windowMs of [1_000, 5_000, 10_000]) {
    const allowed = bucketAllows({ burst: BURST, ratePerMinute: RATE }, windowMs, 2_000);
    const most = busiestWindow(received, windowMs);
    // Fails exactly when `most` is over `allowed`, and the diff names the window.
    expect({ windowMs, most }).toEqual({ windowMs, most: Math.min(most, allowed) });
  }
  expect(spanMs(received)).toBeGreaterThanOrEqual(((CAP - BURST) * 60_000) / RATE - 1_000);

  // The cap survives a restart: the contacts are stored (sealed) with the state, not in memory.
  worker.kill('SIGTERM');
  await worker.exited;
  const raw = await env.storage.store.get(
    `${channelStatePrefix({ prefix: 'wa', clinicId: env.clinic, channelId: env.channel })}contacts`,
  );
  expect(raw).not.toBeNull();
  const asText = Buffer.from(raw!.body).toString('latin1');
  for (const c of contacts.slice(0, 20)) expect(asText).not.toContain(c.pn);
  await suite.startWorker(env, 'pod-b2', policy(limits));
  await watch.waitStatus(
    'the restarted worker Connected',
    (s) => s.worker === 'pod-b2' && s.phase === 'Connected',
  );
  watch.stop();
  const stranger = await send(env, {
    idempotencyKey: 'b-after',
    to: '+551197399999',
    text: 'one more stranger',
  });
  expect(stranger.ok ? 'sent' : stranger.error).toMatchObject({
    code: 'RateLimited',
    message: expect.stringContaining('newContactsPerDay'),
  });
  // Someone the number already wrote to is not a new contact: that still goes.
  const known = await send(env, { idempotencyKey: 'b-known', to: `+${sent[0]!.to}`, text: 'follow-up' });
  expect(known.ok ? 'sent' : known.error).toBe('sent');
  expect(suite.sim.problems()).toEqual([]);
}, 300_000); // pairing, 200 commands paced over about 30 s and a restart: over 120 s on a busy machine

test('a contact who wrote first is no new contact: with a cap of 0 the reply still goes, also after a restart', async () => {
  const PHONE = '5511900000073';
  const env = suite.envFor('cap-zero');
  const limits = policy({ newContactsPerDay: 0 });
  const { worker, watch } = await suite.pair(env, 'pod-z1', PHONE, limits);
  const patient = suite.sim.contact('5511974000001');
  const stranger = await send(env, { idempotencyKey: 'z-stranger', to: '+5511974000002', text: 'hello?' });
  expect(stranger.ok ? 'sent' : stranger.error.code).toBe('RateLimited');

  await patient.sendText(PHONE, 'Can I book for Tuesday?');
  await eventually('the patient message stored', async () => {
    const stored = await storedInbound(suite.nc, env.clinic, env.channel);
    return stored.length > 0;
  });
  const reply = await send(env, { idempotencyKey: 'z-reply', to: `+${patient.pn}`, text: 'Yes, 10:30' });
  expect(reply.ok ? 'sent' : reply.error).toBe('sent');

  // The contact was stored (sealed) when it wrote: the next worker knows it too.
  worker.kill('SIGTERM');
  await worker.exited;
  await suite.startWorker(env, 'pod-z2', limits);
  await watch.waitStatus(
    'the restarted worker Connected',
    (s) => s.worker === 'pod-z2' && s.phase === 'Connected',
  );
  watch.stop();
  const again = await send(env, { idempotencyKey: 'z-reply-2', to: `+${patient.pn}`, text: 'See you then' });
  expect(again.ok ? 'sent' : again.error).toBe('sent');
  await eventually('both replies at the patient', async () => suite.sim.received(PHONE).length >= 2);
  expect(suite.sim.received(PHONE).map((d) => d.to)).toEqual([patient.pn, patient.pn]);
});
