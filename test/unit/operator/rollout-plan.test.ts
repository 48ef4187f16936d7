import {
  admission,
  countMarks,
  isHalted,
  parseShare,
  shareOf,
  takesPart,
  verdict,
  type FleetChannel,
  type MarkState,
  type RolloutPolicy,
} from '../../../operator/src/controller/rollout-plan.ts';

/** The rollout's decisions as pure functions (rollout-plan.ts): who may be replaced, who is back, when it halts. */
const REV = 'rev-new';
const policy = (over: Partial<RolloutPolicy> = {}): RolloutPolicy => ({
  maxUnavailable: { count: 4 },
  maxUnavailablePerClinic: { percent: 50 },
  clinicMaxUnavailable: {},
  canary: 0,
  maxFailed: { count: 0 },
  healthTimeoutMs: 60_000,
  ...over,
});

/** `clinics` channels per clinic, named c<clinic>-<i>; `marks` sets some of their marks. */
function fleet(
  perClinic: Record<string, number>,
  marks: Record<string, MarkState | [MarkState, string]> = {},
) {
  const channels: FleetChannel[] = [];
  for (const [clinicId, n] of Object.entries(perClinic))
    for (let i = 0; i < n; i++) {
      const key = `ns/${clinicId}-${i}`;
      const m = marks[key];
      const [state, revision] = Array.isArray(m) ? m : [m, REV];
      channels.push({ key, clinicId, mark: state ? { state, revision } : undefined });
    }
  return channels;
}

/** Admits channels one at a time, in order, as reconciles would, until none more is admitted. */
function admitAll(channels: FleetChannel[], p: RolloutPolicy): string[] {
  const admitted: string[] = [];
  for (const c of channels) {
    if (c.mark) continue;
    const a = admission(channels, c, p, REV);
    if (a.admit) {
      c.mark = { state: 'replacing', revision: REV };
      admitted.push(c.key);
    }
  }
  return admitted;
}

test('shares: a number of channels or a percentage, rounded down, never below the minimum', () => {
  expect(parseShare('5')).toEqual({ count: 5 });
  expect(parseShare('10%')).toEqual({ percent: 10 });
  expect(parseShare('101%')).toBeUndefined();
  expect(parseShare('-1')).toBeUndefined();
  expect(parseShare('ten')).toBeUndefined();
  expect(shareOf({ percent: 10 }, 60, 1)).toBe(6);
  expect(shareOf({ percent: 10 }, 5, 1)).toBe(1);
  expect(shareOf({ percent: 10 }, 5, 0)).toBe(0);
  expect(shareOf({ count: 3 }, 1000, 1)).toBe(3);
});

test('the fleet limit: never more than maxUnavailable being replaced at once', () => {
  const channels = fleet({ a: 10, b: 10, c: 10 });
  const first = admitAll(channels, policy({ maxUnavailable: { count: 4 } }));
  expect(first).toHaveLength(4);
  // One comes back: exactly one more slot.
  channels.find((c) => c.key === first[0])!.mark = { state: 'done', revision: REV };
  expect(admitAll(channels, policy({ maxUnavailable: { count: 4 } }))).toHaveLength(1);
  const refused = admission(
    channels,
    channels.find((c) => !c.mark)!,
    policy(),
    REV,
  );
  expect(refused).toMatchObject({ admit: false, why: 'fleet-limit' });
});

test('a percentage of the fleet counts every channel', () => {
  expect(admitAll(fleet({ a: 30, b: 30 }), policy({ maxUnavailable: { percent: 10 } }))).toHaveLength(6);
});

test("the clinic limit: never more than a share of one clinic's channels, and at least one", () => {
  const channels = fleet({ big: 4, small: 1 });
  const admitted = admitAll(channels, policy({ maxUnavailable: { count: 100 } }));
  // 50% of 4 = 2 in the big clinic; the one-channel clinic still gets its one.
  expect(admitted.filter((k) => k.startsWith('ns/big'))).toHaveLength(2);
  expect(admitted.filter((k) => k.startsWith('ns/small'))).toHaveLength(1);
  const refused = admission(
    channels,
    channels.find((c) => !c.mark)!,
    policy({ maxUnavailable: { count: 100 } }),
    REV,
  );
  expect(refused).toMatchObject({
    admit: false,
    why: 'clinic-limit',
    message: expect.stringContaining('big'),
  });
});

test("a clinic's own share wins over the per-clinic default", () => {
  const p = policy({ maxUnavailable: { count: 100 }, clinicMaxUnavailable: { big: { count: 1 } } });
  const admitted = admitAll(fleet({ big: 4, other: 4 }), p);
  expect(admitted.filter((k) => k.startsWith('ns/big'))).toHaveLength(1);
  expect(admitted.filter((k) => k.startsWith('ns/other'))).toHaveLength(2);
});

test('the canary batch: only it, until all of it is back; then the normal limits', () => {
  const p = policy({ canary: 2, maxUnavailable: { count: 5 } });
  const channels = fleet({ a: 10, b: 10 });
  const canary = admitAll(channels, p);
  expect(canary).toHaveLength(2);
  expect(
    admission(
      channels,
      channels.find((c) => !c.mark)!,
      p,
      REV,
    ),
  ).toMatchObject({ why: 'canary' });
  // One back: still the canary (nobody new).
  channels.find((c) => c.key === canary[0])!.mark = { state: 'done', revision: REV };
  expect(admitAll(channels, p)).toHaveLength(0);
  channels.find((c) => c.key === canary[1])!.mark = { state: 'done', revision: REV };
  expect(admitAll(channels, p)).toHaveLength(5);
});

test('a canary larger than the fleet takes the whole fleet', () => {
  expect(
    admitAll(fleet({ a: 3 }), policy({ canary: 10, maxUnavailablePerClinic: { percent: 100 } })),
  ).toHaveLength(3);
});

test('failures halt the rollout once more than maxFailed; failed channels also take a slot', () => {
  const p = policy({ maxFailed: { count: 1 }, maxUnavailable: { count: 3 } });
  const channels = fleet({ a: 10, b: 10 }, { 'ns/a-0': 'failed' });
  // One failure is tolerated, but it is unavailable: 2 slots left of 3.
  expect(isHalted(countMarks(channels, REV), p)).toBe(false);
  expect(admitAll(channels, p)).toHaveLength(2);
  channels.find((c) => c.key === 'ns/b-9')!.mark = { state: 'failed', revision: REV };
  expect(isHalted(countMarks(channels, REV), p)).toBe(true);
  expect(
    admission(
      channels,
      channels.find((c) => !c.mark)!,
      p,
      REV,
    ),
  ).toMatchObject({ admit: false, why: 'halted' });
});

test('resumed channels count as back; failures of an earlier revision do not halt this one', () => {
  const p = policy({ canary: 1 });
  const resumed = fleet({ a: 4 }, { 'ns/a-0': 'resumed' });
  expect(admitAll(resumed, p)).toHaveLength(2);
  const rolledBack = fleet({ a: 4 }, { 'ns/a-0': ['failed', 'rev-bad'] });
  expect(isHalted(countMarks(rolledBack, REV), p)).toBe(false);
  // (It had the canary's slot in the bad rollout; in this one the canary is still to come.)
  expect(admitAll(rolledBack, p)).toHaveLength(1);
});

test('who takes part: a paired session that serves or reconnects; not suspended, never connected, or failing already', () => {
  expect(takesPart({ phase: 'Connected', account: '1@s.whatsapp.net' })).toBe(true);
  expect(takesPart({ phase: 'Disconnected', account: '1@s.whatsapp.net' })).toBe(true);
  expect(takesPart({ phase: 'Connected', account: '1@s.whatsapp.net', suspend: true })).toBe(false);
  expect(takesPart({ phase: 'QRRequired' })).toBe(false);
  expect(takesPart({ phase: 'Connecting' })).toBe(false);
  expect(takesPart({ phase: 'Error', account: '1@s.whatsapp.net' })).toBe(false);
});

test('the verdict: back when Connected (or Disconnected again), failed on a crash loop, Error or the time limit', () => {
  const base = { since: 1_000, now: 2_000, timeoutMs: 10_000, from: 'Connected' as const };
  const running = { activity: 'running' };
  expect(verdict({ ...base, worker: running, phase: 'Connected' })).toEqual({ outcome: 'back' });
  expect(verdict({ ...base, worker: running, phase: 'Connecting' })).toEqual({
    outcome: 'waiting',
    dueInMs: 9_000,
  });
  expect(verdict({ ...base, worker: undefined, phase: 'Connected' })).toEqual({
    outcome: 'waiting',
    dueInMs: 9_000,
  });
  expect(verdict({ ...base, from: 'Disconnected', worker: running, phase: 'Disconnected' })).toEqual({
    outcome: 'back',
  });
  expect(verdict({ ...base, worker: running, phase: 'Disconnected' }).outcome).toBe('waiting');
  expect(
    verdict({
      ...base,
      worker: { activity: 'failing', reason: 'CrashLoopBackOff', message: 'back-off' },
      phase: 'Error',
    }),
  ).toEqual({ outcome: 'failed', reason: 'CrashLoopBackOff: back-off' });
  expect(
    verdict({ ...base, worker: running, phase: 'Error', reason: 'ClientVersionRejected' }),
  ).toMatchObject({
    outcome: 'failed',
    reason: expect.stringContaining('ClientVersionRejected'),
  });
  expect(verdict({ ...base, now: 11_000, worker: running, phase: 'Connecting' })).toMatchObject({
    outcome: 'failed',
    reason: expect.stringMatching(/^HealthTimeout: .*phase Connecting/),
  });
});
