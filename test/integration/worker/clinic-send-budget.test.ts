import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import type { PhoneDelivery } from '../../../wa-sim/simulator.ts';
import { bucketAllows, busiestWindow, spanMs } from './phone-timing.ts';
import { command, WorkerSuite, eventually } from './worker-harness.ts';

/**
 * The clinic's send budget, shared by its channels (worker/src/pacing/clinic-budget.ts): two
 * real worker processes of one clinic, each allowed far more than the clinic, send together;
 * at the phones (the simulator's receive times) the two numbers' messages together keep to the
 * clinic's budget, and every message arrives once.
 */

quietLibsignal();
const suite = new WorkerSuite('wbudget');

const CLINIC_RATE = 60; // a minute: one a second
const CLINIC_BURST = 4;
const PER_CHANNEL = 5;

test('two channels of a clinic share its budget: together no faster than it, measured at the phones', async () => {
  const env = {
    WA_SEND_POLICY: JSON.stringify({
      ratePerMinute: 600,
      burst: 100,
      newContactsPerDay: 1_000,
      maxWaitSeconds: 50,
    }),
    WA_CLINIC_SEND_BUDGET: JSON.stringify({ ratePerMinute: CLINIC_RATE, burst: CLINIC_BURST }),
  };
  const phones = ['5511900000081', '5511900000082'];
  const channels = [suite.envFor('desk-a'), suite.envFor('desk-b')];
  for (const [i, channel] of channels.entries()) {
    (await suite.pair(channel, `pod-budget-${i}`, phones[i]!, env)).watch.stop();
  }
  const patient = suite.sim.contact('5511973000001');
  // One message from each channel first: the Signal sessions are set up (a first message takes
  // longer to arrive than the next ones), then the clinic's bucket refills before the burst.
  for (const [c, channel] of channels.entries()) {
    const warm = { idempotencyKey: `warm-${c}`, to: `+${patient.pn}`, text: `hello from ${c}` };
    expect(await command(suite.nc, channel.clinic, channel.channel, 'send', warm, 70_000)).toMatchObject({
      ok: true,
    });
  }
  await eventually('the first messages at the patient', async () => suite.sim.received().length >= 2);
  await new Promise((r) => setTimeout(r, (CLINIC_BURST * 60_000) / CLINIC_RATE + 500));
  const warmedUp = suite.sim.received().length;

  const replies = await Promise.all(
    channels.flatMap((channel, c) =>
      Array.from({ length: PER_CHANNEL }, (_, i) =>
        command(
          suite.nc,
          channel.clinic,
          channel.channel,
          'send',
          { idempotencyKey: `budget-${c}-${i}`, to: `+${patient.pn}`, text: `from ${c}: ${i}` },
          70_000,
        ),
      ),
    ),
  );
  for (const r of replies) expect(r).toMatchObject({ ok: true });

  const total = channels.length * PER_CHANNEL;
  const received: PhoneDelivery[] = await eventually(`${total} messages at the patient`, async () => {
    const got = suite.sim.received().slice(warmedUp);
    return got.length >= total && got;
  });
  expect(received).toHaveLength(total);
  expect(new Set(received.map((d) => d.id))).toEqual(
    new Set(replies.map((r) => (r.ok ? (r.result.messageId as string) : ''))),
  );
  // Both channels sent (the budget is shared, not taken by one)...
  for (const pn of phones)
    expect(received.filter((d) => d.from === `${pn}@s.whatsapp.net`)).toHaveLength(PER_CHANNEL);
  // ...and together no faster than the clinic's bucket (each channel alone may send 600 a minute,
  // which would put all ten at the phone within a second).
  const clinic = { burst: CLINIC_BURST, ratePerMinute: CLINIC_RATE };
  for (const windowMs of [1_000, 3_000]) {
    const most = busiestWindow(received, windowMs);
    expect({ windowMs, most }).toEqual({ windowMs, most: Math.min(most, bucketAllows(clinic, windowMs)) });
  }
  // Beyond the burst, one a second: the span is at least that, less the spread of latencies.
  expect(spanMs(received)).toBeGreaterThanOrEqual(((total - CLINIC_BURST) * 60_000) / CLINIC_RATE - 2_000);
  expect(suite.sim.problems()).toEqual([]);
});
