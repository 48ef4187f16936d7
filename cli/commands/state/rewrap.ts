/**
 * `wa state rewrap`: moves channels' data keys to another KMS key, with no downtime.
 *
 * A channel's objects are sealed under its data key; only the `datakey` record holds that key,
 * wrapped by KMS. Re-wrapping asks KMS to re-encrypt the wrapped copy under the new key with the
 * same encryption context (ReEncrypt: the plaintext never leaves KMS) and writes the record back
 * with a compare-and-set on the version read. The data key itself stays the same, so a running
 * worker, which unwrapped it at start and holds it in memory, goes on unaffected, and nothing
 * else is rewritten. Its next start unwraps the new record: KMS finds the key from the
 * ciphertext, whatever key the worker is configured with. Quarantined copies hold a copy of the
 * record each, and are re-wrapped too (they stay readable after the old key is disabled).
 *
 * Afterwards every record is read back through KMS Decrypt, and each one still under another key
 * is reported: only when none is left may the old key be disabled.
 */
import { channelStatePrefix, DATA_KEY_OBJECT, QUARANTINE_DIR } from '../../../contract/state-layout.ts';
import { encodeDataKeyRecord, parseDataKeyRecord } from '../../../worker/src/auth-store/data-key.ts';
import { KeyUnwrapError } from '../../../worker/src/auth-store/key-provider.ts';
import { PreconditionFailedError } from '../../../worker/src/auth-store/object-store.ts';
import { UnreadableObjectError } from '../../../worker/src/auth-store/envelope.ts';
import type { ChannelTarget, StateAccess } from './state-access.ts';
import { latestVersions, listVersions, readVersion, versioningEnabled } from './versions.ts';

/** The `datakey` record of the live state and of each quarantined copy. */
async function dataKeyRecords(access: StateAccess, target: ChannelTarget): Promise<string[]> {
  const base = channelStatePrefix(target);
  const copyRecord = new RegExp(`^${QUARANTINE_DIR}/[^/]+/${DATA_KEY_OBJECT}$`);
  return (await access.store(target.bucket).list(base))
    .map((o) => o.key)
    .filter((key) => {
      const name = key.slice(base.length);
      return name === DATA_KEY_OBJECT || copyRecord.test(name);
    });
}

const contextOf = (target: ChannelTarget) => ({ clinic: target.clinicId, channel: target.channelId });

/** How often a record that changed under the re-wrap (a worker starting over) is read again. */
const ATTEMPTS = 3;

export interface RewrapOutcome {
  key: string;
  /** `rewrapped`: written back under the new key; `already`: it was; `gone`: deleted meanwhile. */
  outcome: 'rewrapped' | 'already' | 'gone';
  fromKeyArn?: string;
}

export async function rewrapChannel(
  access: StateAccess,
  target: ChannelTarget,
  toKeyId: string,
  toKeyArn: string,
): Promise<RewrapOutcome[]> {
  const store = access.store(target.bucket);
  const out: RewrapOutcome[] = [];
  for (const key of await dataKeyRecords(access, target)) {
    for (let attempt = 1; ; attempt++) {
      const stored = await store.get(key);
      if (!stored) {
        out.push({ key, outcome: 'gone' });
        break;
      }
      const record = parseDataKeyRecord(key, stored.body);
      const moved = await access.kms.rewrap(
        Buffer.from(record.wrapped, 'base64'),
        contextOf(target),
        toKeyId,
      );
      if (moved.fromKeyArn === toKeyArn) {
        out.push({ key, outcome: 'already' });
        break;
      }
      try {
        const next = { ...record, keyId: toKeyId, wrapped: Buffer.from(moved.wrapped).toString('base64') };
        await store.put(key, encodeDataKeyRecord(next), { ifMatch: stored.etag });
        out.push({ key, outcome: 'rewrapped', fromKeyArn: moved.fromKeyArn });
        break;
      } catch (err) {
        // The record changed since it was read (a worker started over with a new data key).
        if (!(err instanceof PreconditionFailedError) || attempt >= ATTEMPTS) throw err;
      }
    }
  }
  return out;
}

export interface StillOld {
  key: string;
  /** The key wrapping it, or why KMS would not say. */
  under: string;
}

/** Every data key record of the channel not wrapped under `toKeyArn`, read back through KMS. */
export async function recordsNotUnder(
  access: StateAccess,
  target: ChannelTarget,
  toKeyArn: string,
): Promise<StillOld[]> {
  const store = access.store(target.bucket);
  const left: StillOld[] = [];
  for (const key of await dataKeyRecords(access, target)) {
    const stored = await store.get(key);
    if (!stored) continue;
    try {
      const record = parseDataKeyRecord(key, stored.body);
      const { keyArn } = await access.kms.unwrapNamingKey(
        Buffer.from(record.wrapped, 'base64'),
        contextOf(target),
      );
      if (keyArn !== toKeyArn) left.push({ key, under: keyArn });
    } catch (err) {
      if (!(err instanceof KeyUnwrapError) && !(err instanceof UnreadableObjectError)) throw err;
      left.push({ key, under: `unknown: ${err.message}` });
    }
  }
  return left;
}

export interface OldVersion {
  key: string;
  versionId: string;
  lastModified: Date;
  under: string;
}

/**
 * Earlier versions of the channel's data key records (a versioned bucket keeps them) not wrapped
 * under `toKeyArn`: restore points from before the re-wrap. They cannot be re-wrapped (a version
 * never changes); a restore keeps today's record whenever it opens the restored set (restore.ts),
 * so only a restore to another data key (before a quarantine started the channel over) needs them.
 */
export async function historyNotUnder(
  access: StateAccess,
  target: ChannelTarget,
  toKeyArn: string,
): Promise<OldVersion[]> {
  if (!(await versioningEnabled(access.s3, target.bucket))) return [];
  const records = new Set(await dataKeyRecords(access, target));
  const latest = latestVersions(await listVersions(access.s3, target.bucket, channelStatePrefix(target)));
  const old: OldVersion[] = [];
  for (const v of await listVersions(access.s3, target.bucket, channelStatePrefix(target))) {
    if (!records.has(v.key) || v.deleted || latest.get(v.key)?.versionId === v.versionId) continue;
    const body = await readVersion(access.s3, target.bucket, v.key, v.versionId);
    if (!body) continue;
    let under: string;
    try {
      const record = parseDataKeyRecord(v.key, body);
      under = (await access.kms.unwrapNamingKey(Buffer.from(record.wrapped, 'base64'), contextOf(target)))
        .keyArn;
    } catch (err) {
      if (!(err instanceof KeyUnwrapError) && !(err instanceof UnreadableObjectError)) throw err;
      under = `unknown: ${err.message}`;
    }
    if (under !== toKeyArn)
      old.push({ key: v.key, versionId: v.versionId, lastModified: v.lastModified, under });
  }
  return old;
}
