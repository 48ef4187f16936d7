import { CreateKeyCommand, DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { testStack } from '../../harness/stack.ts';

/** Smoke test of the KMS endpoint: envelope data keys bound to an encryption context. */
describe('KMS-compatible endpoint (local-kms)', () => {
  const { kms } = testStack();
  const client = new KMSClient({
    endpoint: kms.endpoint,
    region: kms.region,
    credentials: { accessKeyId: kms.accessKeyId, secretAccessKey: kms.secretAccessKey },
  });
  afterAll(() => client.destroy());

  test('GenerateDataKey then Decrypt gives the same key; another context is refused', async () => {
    const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: 'smoke' }));
    const context = { clinic: 'clinic-a', channel: 'front-desk' };
    const dataKey = await client.send(
      new GenerateDataKeyCommand({
        KeyId: KeyMetadata!.KeyId!,
        KeySpec: 'AES_256',
        EncryptionContext: context,
      }),
    );
    expect(dataKey.Plaintext).toHaveLength(32);

    const decrypted = await client.send(
      new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context }),
    );
    expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(dataKey.Plaintext!))).toBe(true);

    await expect(
      client.send(
        new DecryptCommand({
          CiphertextBlob: dataKey.CiphertextBlob,
          EncryptionContext: { clinic: 'clinic-b', channel: 'front-desk' },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });
});
