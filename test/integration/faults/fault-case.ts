/**
 * The fault suite's shared part: a paired worker whose path to one dependency (S3, KMS, NATS or
 * the WhatsApp endpoint) runs through a TcpProxy the test breaks; a burst of inbound messages
 * and of retried send commands across the fault; and the measurements every case asserts —
 * messages lost, duplicates stored, worker exits, the order of statuses, never two live
 * connections — and prints (time from recovery to `Connected`).
 *
 * Each fault lasts FAULT_MS, longer than every timeout it meets with the default settings:
 * lease TTL 15 s (given up at 12 s), S3/KMS request timeouts 5 s × 2-3 attempts, the NATS
 * client's reconnect wait (1 s, 3 missed 10 s pings) and the event sink's 15 s stall limit,
 * Baileys' 30 s keep-alive.
 */
import type { StatusEvent } from '../../../contract/index.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { testStack } from '../../harness/stack.ts';
import {
  ChannelWatch,
  command,
  eventually,
  storedInbound,
  type ChannelEnv,
  type WorkerProcess,
  type WorkerSuite,
} from '../worker/worker-harness.ts';

export const FAULT_MS = 60_000;
/** A fault case pairs, bursts, waits out the fault and recovers: well past jest's default. */
export const CASE_TIMEOUT_MS = 300_000;

export type Dependency = 's3' | 'kms' | 'nats' | 'whatsapp';

/** Proxies of one test file, stopped after its workers (pass `stopAll` to the WorkerSuite). */
export class Proxies {
  readonly #all: TcpProxy[] = [];

  async stopAll(): Promise<void> {
    for (const p of this.#all) await p.stop();
  }

  /** A proxy in front of the dependency, and the worker environment that points at it. */
  async for(
    dependency: Dependency,
    env: ChannelEnv,
  ): Promise<{ proxy: TcpProxy; env: Record<string, string> }> {
    const stack = testStack();
    const target = {
      s3: stack.s3.endpoint,
      kms: stack.kms.endpoint,
      nats: stack.nats.url,
      whatsapp: env.sim.url,
    }[dependency];
    const proxy = await TcpProxy.start(target);
    this.#all.push(proxy);
    const at = `127.0.0.1:${proxy.port}`;
    const variable = {
      s3: ['WA_S3_ENDPOINT', `http://${at}`],
      kms: ['WA_KMS_ENDPOINT', `http://${at}`],
      nats: ['NATS_URL', `nats://${at}`],
      whatsapp: ['WA_WS_URL', `ws://${at}${new URL(env.sim.url).pathname}`],
    }[dependency];
    return { proxy, env: { [variable[0]!]: variable[1]! } };
  }
}

/** A patient sending texts to the clinic's number; resolves with the message ids, in order. */
export async function inboundBurst(
  env: ChannelEnv,
  contactPn: string,
  phonePn: string,
  label: string,
  count: number,
): Promise<string[]> {
  const contact = env.sim.contact(contactPn, 'Patient');
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await contact.sendText(phonePn, `${label} ${i}`)).id);
  return ids;
}

/**
 * Send commands as the clinic's backend issues them: each retried with its idempotency key
 * until the worker accepts it (NotConnected while the session is down). Resolves with the
 * message ids once every one was accepted.
 */
export function retriedSends(
  suite: WorkerSuite,
  env: ChannelEnv,
  to: string,
  label: string,
  count: number,
): { texts: string[]; done: Promise<string[]> } {
  const texts = Array.from({ length: count }, (_, i) => `${label} ${i}`);
  const sendOne = async (text: string): Promise<string> => {
    for (;;) {
      const reply = await command(suite.nc, env.clinic, env.channel, 'send', {
        idempotencyKey: text.replace(/\s+/g, '-'),
        to: `+${to}`,
        text,
      }).catch(() => undefined); // no reply at all (NATS away from the worker): retried
      if (reply?.ok) return reply.result.messageId as string;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };
  return { texts, done: Promise.all(texts.map(sendOne)) };
}

export interface Outcome {
  lost: string[];
  duplicatesStored: number;
  sendsAtContact: Map<string, number>;
  exitCode: number | null;
  maxConcurrent: number;
  recoveryToConnectedMs: number;
}

/** Waits for everything to settle after the fault, then measures; prints the recovery time. */
export async function measure(opts: {
  name: string;
  suite: WorkerSuite;
  env: ChannelEnv;
  worker: WorkerProcess;
  watch: ChannelWatch;
  device: string;
  inbound: string[];
  sends: { texts: string[]; done: Promise<string[]> };
  sendsTo: string;
  phonePn: string;
  recoveredAt: number;
  /** The session never had to close (a dependency it does not use while running). */
  staysConnected?: boolean;
}): Promise<Outcome> {
  const { suite, env, watch, worker } = opts;
  const connected = opts.staysConnected
    ? { at: new Date(opts.recoveredAt).toISOString() }
    : await watch.waitStatus(
        () => `Connected after the fault; worker log:\n${tail(worker)}`,
        (s) => s.phase === 'Connected' && s.worker === worker.holder && Date.parse(s.at) >= opts.recoveredAt,
        120_000,
      );
  const stored = await eventually(
    () => `all ${opts.inbound.length} inbound messages in JetStream; worker log:\n${tail(worker)}`,
    async () => {
      const all = await storedInbound(suite.nc, env.clinic, env.channel);
      const ids = new Set(all.map((m) => m.msgId));
      return opts.inbound.every((id) => ids.has(id)) && all;
    },
    120_000,
  );
  await opts.sends.done;
  const contact = env.sim.contact(opts.sendsTo);
  await eventually('every send at the contact', async () =>
    opts.sends.texts.every((t) => contact.inbox.some((m) => m.text === t && m.from.startsWith(opts.phonePn))),
  );
  const sendsAtContact = new Map(
    opts.sends.texts.map((t) => [
      t,
      contact.inbox.filter((m) => m.text === t && m.from.startsWith(opts.phonePn) && !m.ownCopy).length,
    ]),
  );
  const storedIds = new Set(stored.map((m) => m.msgId));
  const outcome: Outcome = {
    lost: opts.inbound.filter((id) => !storedIds.has(id)),
    duplicatesStored: stored.length - storedIds.size,
    sendsAtContact,
    exitCode: worker.child.exitCode,
    maxConcurrent: suite.sim.connections.maxConcurrent(opts.device),
    recoveryToConnectedMs: Date.parse(connected.at) - opts.recoveredAt,
  };
  // The figure docs/worker.md quotes; printed, never asserted (no timing assertions).
  console.log(
    `[fault] ${opts.name}: recovery → Connected in ${outcome.recoveryToConnectedMs} ms; ` +
      `${opts.inbound.length} inbound (lost ${outcome.lost.length}, duplicates ${outcome.duplicatesStored}), ` +
      `${opts.sends.texts.length} sends; statuses: ${statusTrail(watch, worker.holder)}`,
  );
  return outcome;
}

/** The assertions every fault case shares. */
export function expectClean(outcome: Outcome): void {
  expect(outcome.lost).toEqual([]);
  expect(outcome.duplicatesStored).toBe(0);
  for (const [text, n] of outcome.sendsAtContact) expect([text, n]).toEqual([text, 1]);
  expect(outcome.exitCode).toBeNull();
  expect(outcome.maxConcurrent).toBe(1);
}

/**
 * Asserts the worker's statuses from `fromSeq` on contain these steps in this order (other
 * statuses may come between), that their seq only grows, and that none is an Error.
 */
export function expectStatusesInOrder(
  watch: ChannelWatch,
  holder: string,
  fromSeq: number,
  steps: { what: string; match: (s: StatusEvent) => boolean }[],
): void {
  const mine = watch.status.filter((s) => s.worker === holder);
  const seqs = mine.map((s) => s.seq);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  const after = mine.filter((s) => s.seq > fromSeq);
  expect(after.filter((s) => s.phase === 'Error')).toEqual([]);
  let at = 0;
  const trail = statusTrail(watch, holder);
  for (const step of steps) {
    const found = after.slice(at).findIndex(step.match);
    expect([step.what, found >= 0 ? 'found' : `missing from ${trail}`]).toEqual([step.what, 'found']);
    at += found + 1;
  }
}

export function statusTrail(watch: ChannelWatch, holder: string): string {
  return watch.status
    .filter((s) => s.worker === holder)
    .map((s) => `${s.phase}${s.reason ? `/${s.reason}` : ''}`)
    .join(' → ');
}

function tail(worker: WorkerProcess): string {
  return worker
    .logs()
    .split('\n')
    .filter((l) => !l.includes('"level":"debug"'))
    .slice(-40)
    .join('\n');
}

export interface RunningCase {
  suite: WorkerSuite;
  proxies: Proxies;
  name: string;
  dependency: Dependency;
  /** How the dependency fails: connections refused (`down`) or accepted and never answered (`hang`). */
  mode: 'down' | 'hang';
  channel: string;
  holder: string;
  phonePn: string;
  contactPn: string;
  /** The statuses expected, in this order, from the fault on. */
  steps: { what: string; match: (s: StatusEvent) => boolean }[];
  staysConnected?: boolean;
}

/**
 * The standard case: pair a worker behind the proxy, start a burst of inbound messages and
 * retried sends, break the dependency for FAULT_MS with more messages arriving, restore it,
 * then measure and assert. Returns the outcome and the watch for case-specific checks.
 */
export async function runFaultCase(c: RunningCase) {
  const env = c.suite.envFor(c.channel);
  const { proxy, env: via } = await c.proxies.for(c.dependency, env);
  const { worker, device, watch } = await c.suite.pair(env, c.holder, c.phonePn, via);
  const qrsAtStart = watch.pairing.length;
  const before = watch.status.at(-1)!.seq;

  const inbound = await inboundBurst(env, c.contactPn, c.phonePn, `before: ${c.name}`, 20);
  const sends = retriedSends(c.suite, env, c.contactPn, `reminder across: ${c.name}`, 10);
  if (c.mode === 'down') proxy.down();
  else proxy.hang();
  inbound.push(...(await inboundBurst(env, c.contactPn, c.phonePn, `during: ${c.name}`, 20)));
  await new Promise((r) => setTimeout(r, FAULT_MS));
  const recoveredAt = Date.now();
  proxy.up();

  const outcome = await measure({
    name: c.name,
    suite: c.suite,
    env,
    worker,
    watch,
    device,
    inbound,
    sends,
    sendsTo: c.contactPn,
    phonePn: c.phonePn,
    recoveredAt,
    staysConnected: c.staysConnected,
  });
  expectClean(outcome);
  expectStatusesInOrder(watch, c.holder, before, c.steps);
  expect(watch.pairing).toHaveLength(qrsAtStart); // no QR: the stored session was reused
  watch.stop();
  return { outcome, watch, worker, before };
}

/**
 * The dependency is away when the worker starts: a paired channel's worker is stopped, the
 * dependency breaks, a new worker starts and must publish `waiting` (a status naming the
 * cause) and log it, stay up through FAULT_MS, and connect without a QR once it is back.
 */
export async function runStartFaultCase(
  c: Omit<RunningCase, 'mode' | 'staysConnected'> & {
    waiting: (s: StatusEvent) => boolean;
    /** What the worker's log must say about the cause (the endpoint, the error). */
    logged: RegExp;
  },
) {
  const env = c.suite.envFor(c.channel);
  const { proxy, env: via } = await c.proxies.for(c.dependency, env);
  const first = await c.suite.pair(env, `${c.holder}-first`, c.phonePn, via);
  first.watch.stop();
  first.worker.child.kill('SIGTERM');
  expect(await first.worker.exited).toBe(0);

  const watch = await ChannelWatch.start(c.suite.nc, env.clinic, env.channel);
  proxy.down();
  const worker = await c.suite.startWorker(env, c.holder, via);
  const inbound = await inboundBurst(env, c.contactPn, c.phonePn, `during: ${c.name}`, 20);
  const sends = retriedSends(c.suite, env, c.contactPn, `reminder across: ${c.name}`, 10);
  const waiting = await watch.waitStatus(
    `a status naming the cause (${c.name})`,
    (s) => s.worker === c.holder && c.waiting(s),
  );
  expect(waiting.degraded).toBe(true);
  await eventually(`the cause in the worker's log (${c.logged})`, async () => c.logged.test(worker.logs()));
  await new Promise((r) => setTimeout(r, FAULT_MS));
  expect(worker.child.exitCode).toBeNull(); // no crash loop: still the same process
  const recoveredAt = Date.now();
  proxy.up();

  const outcome = await measure({
    name: c.name,
    suite: c.suite,
    env,
    worker,
    watch,
    device: first.device,
    inbound,
    sends,
    sendsTo: c.contactPn,
    phonePn: c.phonePn,
    recoveredAt,
  });
  expectClean(outcome);
  expectStatusesInOrder(watch, c.holder, 0, c.steps);
  expect(watch.pairing).toEqual([]); // no QR: the stored session was reused
  watch.stop();
  return { outcome, watch, worker };
}
