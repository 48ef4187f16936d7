/**
 * Group commit of key transactions, as databases do: every change made while the previous
 * journal write is in flight joins one batch, and the batch becomes one journal record (one S3
 * PUT) as soon as that write is done. A burst of inbound messages then costs one write per
 * round trip to the store, not one per message.
 *
 * A change is visible to reads (`read`) as soon as it is added — the next message's decrypt
 * needs the ratchet state the previous one left — but it is durable only when its batch is. So
 * nothing may leave the process on the strength of a change until `whenDurable()` resolves:
 * the worker holds every outgoing WhatsApp frame (receipts included) behind it
 * (session/durable-frames.ts).
 *
 * Ordering guarantees:
 * - batches are written one at a time, in order; a batch holds the merge of its changes in the
 *   order they were made (a later change to the same key wins, as applying them one by one would);
 * - `commitAfter(p)` makes the open batch wait for `p` before it is written: an inbound
 *   message's JetStream ack comes before the session state that consumed it is committed;
 * - a failed batch fails every batch still pending behind it (they were built on its state):
 *   what was visible but never durable is dropped, and reads see the durable state again;
 * - a socket that took changes without waiting for them (ChannelState.pipeline) may still hold
 *   transactions built on the dropped state, so after a failure `hasFailed` stays true (and
 *   `whenDurable()` rejects) until `reset()`, which the next socket calls; the pipeline refuses
 *   changes meanwhile. Callers that await each change (`add`) see their own failure and go on.
 */
import type { KeyMutations } from './key-mutations.ts';

/** What one journal record of a batch carries: merged key mutations and/or the latest creds. */
export interface CommitBatch {
  keys: KeyMutations | undefined;
  /** The creds as encoded by the last saveCreds in the batch. */
  creds: Uint8Array | undefined;
}

export class CommitAbandonedError extends Error {
  readonly code = 'CommitAbandoned';
  constructor(cause: unknown) {
    super(
      `an earlier state commit failed, so this change was dropped: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'CommitAbandonedError';
  }
}

interface Batch {
  keys: KeyMutations | undefined;
  creds: Uint8Array | undefined;
  after: Promise<unknown>[];
  /** Set when an earlier batch failed while this one was pending. */
  doomed?: unknown;
  durable: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Writes one batch durably (one journal record); memory of durable state changes inside. */
  write: (batch: CommitBatch) => Promise<void>;
}

export class GroupCommit {
  private readonly write: GroupCommitOptions['write'];
  /** Batches not yet durable, oldest first; the last one may still be open. */
  private readonly pending: Batch[] = [];
  /** The batch that takes new changes (its write has not started). */
  private open: Batch | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private failed = false;

  constructor(options: GroupCommitOptions) {
    this.write = options.write;
  }

  /** Adds a change; the promise resolves when it is durable (callers may also not wait). */
  add(change: { keys?: KeyMutations; creds?: Uint8Array }): Promise<void> {
    const batch = this.openBatch();
    if (change.keys) {
      const merged = (batch.keys ??= {});
      for (const [type, entries] of Object.entries(change.keys)) {
        Object.assign((merged[type] ??= {}), entries);
      }
    }
    if (change.creds) batch.creds = change.creds;
    return batch.durable;
  }

  /** The open batch (the next record written) waits for `p`; if `p` rejects, the batch fails. */
  commitAfter(p: Promise<unknown>): void {
    this.openBatch().after.push(p);
  }

  /** The newest not-yet-durable value of a key: `found` false when no pending batch touches it. */
  read(type: string, id: string): { found: boolean; value: unknown } {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]!.doomed !== undefined) continue; // dropped: never durable
      const entries = this.pending[i]!.keys?.[type];
      if (entries && Object.hasOwn(entries, id)) return { found: true, value: entries[id] };
    }
    return { found: false, value: undefined };
  }

  /** Whether any batch touching keys is pending (reads then need the overlay). */
  get busy(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Resolves when every change added so far is durable, rejects if one failed; undefined when
   * nothing is pending (so a caller can go on synchronously).
   */
  whenDurable(): Promise<void> | undefined {
    if (this.failed) return Promise.reject(new CommitAbandonedError(this.failure));
    return this.pending.at(-1)?.durable;
  }

  /** Resolves when every batch started so far has been written or has failed. */
  async settled(): Promise<void> {
    await this.chain;
  }

  /** Whether a commit failed since the last reset (the pipeline refuses changes meanwhile). */
  get hasFailed(): boolean {
    return this.failed;
  }

  /** Starts taking changes again after a failure (nothing is pending by then). */
  reset(): void {
    this.failed = false;
    this.failure = undefined;
  }

  private openBatch(): Batch {
    if (this.open) return this.open;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const durable = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // Callers that only add (and rely on whenDurable) never look at this promise's failure.
    durable.catch(() => undefined);
    const batch: Batch = { keys: undefined, creds: undefined, after: [], durable, resolve, reject };
    this.open = batch;
    this.pending.push(batch);
    this.chain = this.chain.then(() => this.run(batch));
    return batch;
  }

  private async run(batch: Batch): Promise<void> {
    // From here on the batch takes no more changes: they go into the next one.
    if (this.open === batch) this.open = undefined;
    try {
      await Promise.all(batch.after);
      if (batch.doomed === undefined && (batch.keys || batch.creds))
        await this.write({ keys: batch.keys, creds: batch.creds });
      if (batch.doomed !== undefined) throw new CommitAbandonedError(batch.doomed);
      batch.resolve();
    } catch (err) {
      if (batch.doomed === undefined) {
        // Every batch behind this one was built on its state: none of them may be written.
        for (const later of this.pending) if (later !== batch) later.doomed ??= err;
        if (this.open && this.open !== batch) this.open = undefined;
        this.failed = true;
        this.failure = err;
      }
      batch.reject(err);
    } finally {
      this.pending.splice(this.pending.indexOf(batch), 1);
    }
  }
}
