/**
 * Envelope encryption's key side: a data key per channel, wrapped by KMS under the
 * encryption context {clinic, channel}. KMS is asked once to create it (first start
 * of a channel) and once per worker start to unwrap it, never per write.
 */
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';

export interface EncryptionContext {
  clinic: string;
  channel: string;
}

export interface DataKey {
  plaintext: Uint8Array;
  /** The wrapped key, safe to store: useless without KMS and the same context. */
  wrapped: Uint8Array;
}

export interface DataKeyProvider {
  /** Which key wraps the data keys (stored beside the wrapped key). */
  readonly keyId: string;
  generate(context: EncryptionContext): Promise<DataKey>;
  unwrap(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

export class KeyUnwrapError extends Error {
  readonly code = 'KeyUnwrapRefused';
  constructor(context: EncryptionContext, cause: unknown) {
    super(
      `KMS refused to decrypt the data key of ${context.clinic}/${context.channel}: ` +
        `${(cause as Error)?.name ?? 'error'}: ${(cause as Error)?.message ?? String(cause)}. ` +
        `The state was written under another key or encryption context, or this worker may not use the key.`,
      { cause },
    );
    this.name = 'KeyUnwrapError';
  }
}

/** KMS would not make a data key: the key is missing, disabled, or this worker may not use it. */
export class KeyGenerateError extends Error {
  readonly code = 'KeyGenerateRefused';
  constructor(keyId: string, context: EncryptionContext, cause: unknown) {
    super(
      `KMS refused a data key for ${context.clinic}/${context.channel} under key ${keyId}: ` +
        `${(cause as Error)?.name ?? 'error'}: ${(cause as Error)?.message ?? String(cause)}. ` +
        `Check the key id (spec.storage.kmsKeyId, the clinic's key, or WA_KMS_KEY_ID) and its key policy.`,
      { cause },
    );
    this.name = 'KeyGenerateError';
  }
}

/** KMS did not answer (network, throttling, a KMS-side fault): nothing about the key is known. */
export class KmsUnreachableError extends Error {
  readonly code = 'KmsUnreachable';
  constructor(cause: unknown) {
    super(
      `KMS did not answer: ${(cause as Error)?.name ?? 'error'}: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    this.name = 'KmsUnreachableError';
  }
}

/**
 * Whether KMS itself refused the request (a client fault: no such key, disabled, not allowed,
 * wrong context). Only a refusal says something about the key; anything else is KMS away.
 */
const refusedByKms = (err: unknown) => (err as { $fault?: string }).$fault === 'client';

export class KmsDataKeyProvider implements DataKeyProvider {
  readonly keyId: string;
  private readonly client: KMSClient;
  /** Counted for the metrics (KMS calls per message must stay ~0). */
  calls = 0;

  constructor(keyId: string, config: KMSClientConfig) {
    this.keyId = keyId;
    this.client = new KMSClient(config);
  }

  async generate(context: EncryptionContext): Promise<DataKey> {
    this.calls++;
    try {
      const res = await this.client.send(
        new GenerateDataKeyCommand({
          KeyId: this.keyId,
          KeySpec: 'AES_256',
          EncryptionContext: { ...context },
        }),
      );
      return { plaintext: res.Plaintext!, wrapped: res.CiphertextBlob! };
    } catch (err) {
      throw refusedByKms(err) ? new KeyGenerateError(this.keyId, context, err) : new KmsUnreachableError(err);
    }
  }

  async unwrap(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    return (await this.unwrapNamingKey(wrapped, context)).plaintext;
  }

  /** Like unwrap, and which KMS key (its ARN) wrapped it: what `wa state verify` and `rewrap` report. */
  async unwrapNamingKey(
    wrapped: Uint8Array,
    context: EncryptionContext,
  ): Promise<{ plaintext: Uint8Array; keyArn: string }> {
    this.calls++;
    try {
      const res = await this.client.send(
        new DecryptCommand({ CiphertextBlob: wrapped, EncryptionContext: { ...context } }),
      );
      return { plaintext: res.Plaintext!, keyArn: res.KeyId ?? '' };
    } catch (err) {
      throw refusedByKms(err) ? new KeyUnwrapError(context, err) : new KmsUnreachableError(err);
    }
  }

  /**
   * The same data key wrapped under `toKeyId` instead (KMS ReEncrypt, same encryption context):
   * the plaintext never leaves KMS, and the objects sealed under the data key stay as they are.
   */
  async rewrap(
    wrapped: Uint8Array,
    context: EncryptionContext,
    toKeyId: string,
  ): Promise<{ wrapped: Uint8Array; fromKeyArn: string; toKeyArn: string }> {
    this.calls++;
    try {
      const res = await this.client.send(
        new ReEncryptCommand({
          CiphertextBlob: wrapped,
          SourceEncryptionContext: { ...context },
          DestinationKeyId: toKeyId,
          DestinationEncryptionContext: { ...context },
        }),
      );
      return { wrapped: res.CiphertextBlob!, fromKeyArn: res.SourceKeyId ?? '', toKeyArn: res.KeyId ?? '' };
    } catch (err) {
      throw refusedByKms(err) ? new KeyUnwrapError(context, err) : new KmsUnreachableError(err);
    }
  }

  /** The ARN of a key id, alias or ARN; KeyGenerateError-like refusal when KMS does not know it. */
  async keyArn(keyId: string): Promise<string> {
    this.calls++;
    try {
      const res = await this.client.send(new DescribeKeyCommand({ KeyId: keyId }));
      return res.KeyMetadata!.Arn!;
    } catch (err) {
      if (!refusedByKms(err)) throw new KmsUnreachableError(err);
      throw new Error(
        `KMS does not know the key ${keyId}: ${(err as Error).name}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
