/**
 * The durable half of `cmd.send` idempotency: one record per idempotency key in the clinic's
 * key-value bucket (contract/idempotency-bucket.ts), kept for the bucket's window (24 h by
 * default), so a retry reaching another worker process (after a crash or a lease takeover)
 * is answered from the record and never sends twice.
 *
 * A send is claimed BEFORE anything leaves (`in-flight`) and completed with its result AFTER
 * WhatsApp took the message, before the reply. The claim is atomic (written only if the key
 * has no record), so two workers can never both send for one key. A retry that finds a claim
 * with no result cannot know whether the message left (the worker may have died on either side
 * of the socket write): it is refused as `OutcomeUnknown` rather than risk a second message.
 */
import type { KV, NatsConnection } from 'nats';
import { idempotencyBucketName, idempotencyRecordKey } from '../../../contract/index.ts';
import type { CommandReply } from '../../../contract/index.ts';

/** What a finished send's record keeps: the reply, without the recipient (the command has it). */
export type StoredOutcome =
  | { ok: true; messageId: string; timestamp: number }
  | { ok: false; error: Extract<CommandReply, { ok: false }>['error'] };

interface SendRecord {
  state: 'in-flight' | 'done';
  /** sha256 of recipient and text: a key reused for another message is refused. */
  fingerprint: string;
  outcome?: StoredOutcome;
  /** When the state was written (ISO 8601), for whoever reads the bucket. */
  at: string;
}

export type Claim =
  /** Nobody sent for this key: this caller may send, and completes or releases `revision`. */
  | { kind: 'claimed'; revision: number }
  | { kind: 'done'; outcome: StoredOutcome }
  | { kind: 'in-flight' }
  | { kind: 'conflict' };

/** The durable send log of one channel. */
export interface SendLog {
  claim(idempotencyKey: string, fingerprint: string): Promise<Claim>;
  complete(
    idempotencyKey: string,
    revision: number,
    fingerprint: string,
    outcome: StoredOutcome,
  ): Promise<void>;
  /** Forgets a claim whose send certainly did not leave (not connected), so a retry may send. */
  release(idempotencyKey: string, revision: number): Promise<void>;
}

/** Wrong expected last sequence: someone else wrote the key between our read and our write. */
const WRONG_LAST_SEQUENCE = 10071;

export class KvSendLog implements SendLog {
  private readonly kv: KV;
  private readonly channelId: string;

  private constructor(kv: KV, channelId: string) {
    this.kv = kv;
    this.channelId = channelId;
  }

  /**
   * Binds to the clinic's bucket without looking it up: a worker's NATS user may only touch its
   * own channel's keys (put, and a direct get naming the key), not the bucket's stream info.
   */
  static async open(nc: NatsConnection, clinicId: string, channelId: string): Promise<KvSendLog> {
    // checkAPI false: no account-info request, so opening works while JetStream is away.
    const kv = await nc.jetstream({ checkAPI: false }).views.kv(idempotencyBucketName(clinicId), {
      bindOnly: true,
      allow_direct: true,
    });
    return new KvSendLog(kv, channelId);
  }

  async claim(idempotencyKey: string, fingerprint: string): Promise<Claim> {
    const key = this.key(idempotencyKey);
    // Two rounds at most: a claim lost to a concurrent writer is read back and answered from.
    for (let round = 0; round < 2; round++) {
      const entry = await this.kv.get(key);
      const live = entry && entry.operation === 'PUT' ? entry : undefined;
      if (live) {
        const record = live.json<SendRecord>();
        if (record.fingerprint !== fingerprint) return { kind: 'conflict' };
        if (record.state === 'done' && record.outcome) return { kind: 'done', outcome: record.outcome };
        return { kind: 'in-flight' };
      }
      const inFlight: SendRecord = { state: 'in-flight', fingerprint, at: new Date().toISOString() };
      try {
        // Only if the key has no record, or only a released one (the revision we read).
        const revision = await this.kv.put(key, encode(inFlight), { previousSeq: entry?.revision ?? 0 });
        return { kind: 'claimed', revision };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    // Written by someone else twice in a row while we looked: certainly in flight elsewhere.
    return { kind: 'in-flight' };
  }

  async complete(
    idempotencyKey: string,
    revision: number,
    fingerprint: string,
    outcome: StoredOutcome,
  ): Promise<void> {
    const done: SendRecord = { state: 'done', fingerprint, outcome, at: new Date().toISOString() };
    await this.kv.update(this.key(idempotencyKey), encode(done), revision);
  }

  async release(idempotencyKey: string, revision: number): Promise<void> {
    await this.kv.delete(this.key(idempotencyKey), { previousSeq: revision });
  }

  private key(idempotencyKey: string): string {
    return idempotencyRecordKey(this.channelId, idempotencyKey);
  }
}

function encode(record: SendRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number } } | undefined;
  return e?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}
