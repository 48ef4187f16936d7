/**
 * The rollout gate (cluster mode): the worker step asks it before replacing a worker that runs
 * an older revision because the operator's settings changed, and the reconcile shows it each
 * replaced channel afterwards, until the channel is back or has failed. Decisions are pure
 * (rollout-plan.ts); this applies them to the channel cache and writes the marks
 * (rollout-marks.ts), the Events and the log lines a person follows.
 *
 * The counts come from the channel cache plus the marks this gate wrote that the cache does not
 * show yet, so reconciles running at once never admit more than the limit between them.
 */
import type { Logger } from 'pino';
import type { WhatsAppChannel, WhatsAppChannelStatus } from '../../../contract/index.ts';
import type { ChannelStore, ReconcileResult, WorkerObservation } from './ports.ts';
import { markOf, markPatch, ROLLOUT_LABEL, type RolloutMark } from './rollout-marks.ts';
import {
  admission,
  countMarks,
  isHalted,
  takesPart,
  verdict,
  type FleetChannel,
  type RolloutCounts,
  type RolloutPolicy,
} from './rollout-plan.ts';

/** A refused channel is also looked at again after this long (it is woken sooner when a slot frees). */
const WAITING_RETRY_MS = 60_000;
/** A mark written but not shown by the cache after this long (a failed write) is no longer counted. */
const OVERLAY_MS = 60_000;

export type GateAnswer =
  { admitted: true; patch?: ReturnType<typeof markPatch> | undefined } | { admitted: false; retryMs: number };

export interface RolloutSummary {
  revision: string;
  counts: RolloutCounts;
  halted: boolean;
  /** Channels refused a replacement for now (they keep their old worker). */
  waiting: number;
}

export interface RolloutGateDeps {
  policy: RolloutPolicy;
  /** The worker revision the operator's settings give (worker-revision.ts). */
  revision: string;
  /** Every channel (the channel cache). */
  channels: () => Iterable<WhatsAppChannel>;
  store: ChannelStore;
  /** Reconcile these channels again (the work queue). */
  wake: (keys: string[]) => void;
  logger: Logger;
  now?: (() => number) | undefined;
}

export class RolloutGate {
  private readonly deps: RolloutGateDeps;
  private readonly now: () => number;
  /** Marks written and not yet shown by the cache: key → mark, the version written over, when. */
  private readonly written = new Map<
    string,
    { mark: RolloutMark | null; over: string | undefined; at: number }
  >();
  /** Channels refused a replacement: woken when a slot may have freed. */
  private readonly waiting = new Set<string>();
  /** Revisions whose halt was announced (one Event per halt, per operator process). */
  private readonly announced = new Set<string>();

  constructor(deps: RolloutGateDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  get revision(): string {
    return this.deps.revision;
  }

  /** May this channel's worker, running an older revision, be replaced now? */
  admit(channel: WhatsAppChannel): GateAnswer {
    const key = keyOf(channel);
    const current = this.markOf(channel);
    if (
      !takesPart({
        suspend: channel.spec.suspend,
        phase: channel.status?.phase,
        account: channel.status?.account,
      })
    ) {
      // Never connected, or failing already: replaced at once, and an old mark goes.
      this.waiting.delete(key);
      if (!current) return { admitted: true };
      return { admitted: true, patch: this.remember(channel, null) };
    }
    if (current?.state === 'replacing') {
      // Replaced again before it came back (the settings changed once more): same slot.
      this.waiting.delete(key);
      return { admitted: true, patch: this.remember(channel, { ...current, revision: this.revision }) };
    }
    const decision = admission(
      this.fleet(),
      { key, clinicId: channel.spec.clinicId },
      this.deps.policy,
      this.revision,
    );
    if (!decision.admit) {
      if (!this.waiting.has(key))
        this.deps.logger.info(
          { channel: key, why: decision.why },
          `worker replacement held: ${decision.message}`,
        );
      this.waiting.add(key);
      return { admitted: false, retryMs: WAITING_RETRY_MS };
    }
    this.waiting.delete(key);
    const mark: RolloutMark = {
      state: 'replacing',
      revision: this.revision,
      since: this.now(),
      from: channel.status?.phase,
    };
    this.deps.logger.info(
      { channel: key, revision: this.revision, canary: decision.canary },
      'rollout: replacing the worker',
    );
    return { admitted: true, patch: this.remember(channel, mark) };
  }

  /** The channel's worker runs the desired spec: it waits for nothing. */
  settled(channel: WhatsAppChannel): void {
    this.waiting.delete(keyOf(channel));
  }

  /**
   * After the status step: has a channel being replaced come back, or failed? Only a worker that
   * runs the desired spec counts (not the old one while it stops); `status` is the status just
   * computed (undefined if none was).
   */
  async observe(
    channel: WhatsAppChannel,
    worker: WorkerObservation | undefined,
    desiredSpecHash: () => string,
    status: WhatsAppChannelStatus | undefined,
  ): Promise<ReconcileResult> {
    const mark = this.markOf(channel);
    if (!mark) return;
    if (mark.state === 'done' || mark.state === 'resumed') {
      // A slot freed, or a person resumed the rollout: the channels held back try again.
      this.wakeWaiting();
      return;
    }
    if (mark.state !== 'replacing') return;
    const ready = status?.conditions?.find((c) => c.type === 'Ready');
    const fresh =
      worker && worker.activity !== 'stopping' && worker.specHash === desiredSpecHash() ? worker : undefined;
    const v = verdict({
      since: mark.since,
      from: mark.from,
      now: this.now(),
      timeoutMs: this.deps.policy.healthTimeoutMs,
      worker: fresh,
      phase: status?.phase ?? channel.status?.phase,
      reason: ready?.reason,
    });
    if (v.outcome === 'waiting') return { requeueAfterMs: v.dueInMs };
    const key = keyOf(channel);
    if (v.outcome === 'back') {
      await this.write(channel, { ...mark, state: 'done' });
      this.deps.logger.info({ channel: key, revision: mark.revision }, 'rollout: the channel is back');
      this.wakeWaiting();
      return;
    }
    await this.write(channel, { ...mark, state: 'failed', reason: v.reason });
    this.deps.logger.warn(
      { channel: key, revision: mark.revision, reason: v.reason },
      'rollout: the channel failed',
    );
    void this.deps.store.event(
      channel,
      'Warning',
      'RolloutFailed',
      `the worker of revision ${mark.revision} did not come back: ${v.reason}`,
    );
    const counts = countMarks(this.fleet(), this.revision);
    if (
      mark.revision === this.revision &&
      isHalted(counts, this.deps.policy) &&
      !this.announced.has(this.revision)
    ) {
      this.announced.add(this.revision);
      const message =
        `rollout of worker revision ${this.revision} halted: ${counts.failed} channel(s) failed (last: ${key}: ${v.reason}); ` +
        `${this.waiting.size} channel(s) keep their old worker. Resume: kubectl label wac -A -l ${ROLLOUT_LABEL}=failed ${ROLLOUT_LABEL}=resumed --overwrite; ` +
        `roll back: restore the previous operator settings (helm rollback)`;
      this.deps.logger.error({ revision: this.revision, failed: counts.failed }, message);
      void this.deps.store.event(channel, 'Warning', 'RolloutHalted', message);
    }
  }

  summary(): RolloutSummary {
    const counts = countMarks(this.fleet(), this.revision);
    return {
      revision: this.revision,
      counts,
      halted: isHalted(counts, this.deps.policy),
      waiting: this.waiting.size,
    };
  }

  /** Every channel with its mark, as this gate knows it (the cache, plus its own recent writes). */
  private fleet(): FleetChannel[] {
    const fleet: FleetChannel[] = [];
    for (const c of this.deps.channels()) {
      const mark = this.markOf(c);
      fleet.push({ key: keyOf(c), clinicId: c.spec?.clinicId ?? '', mark });
    }
    return fleet;
  }

  private markOf(channel: WhatsAppChannel): RolloutMark | undefined {
    const key = keyOf(channel);
    const own = this.written.get(key);
    if (own) {
      const shown = channel.metadata.resourceVersion !== own.over;
      if (shown || this.now() - own.at > OVERLAY_MS) this.written.delete(key);
      else return own.mark ?? undefined;
    }
    return markOf(channel);
  }

  /** Counted at once (before the write returns), so that no other reconcile takes the same slot. */
  private remember(channel: WhatsAppChannel, mark: RolloutMark | null): ReturnType<typeof markPatch> {
    this.written.set(keyOf(channel), { mark, over: channel.metadata.resourceVersion, at: this.now() });
    return markPatch(mark);
  }

  private async write(channel: WhatsAppChannel, mark: RolloutMark): Promise<void> {
    const { labels, annotations } = this.remember(channel, mark);
    await this.deps.store.annotate(channel, annotations, labels);
  }

  private wakeWaiting(): void {
    if (this.waiting.size) this.deps.wake([...this.waiting]);
  }
}

const keyOf = (c: WhatsAppChannel) => `${c.metadata.namespace}/${c.metadata.name}`;
