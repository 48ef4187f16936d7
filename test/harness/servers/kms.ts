import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from '../process.ts';
import { freePort } from '../ports.ts';

export interface KmsInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * local-kms, an AWS KMS-compatible endpoint that binds EncryptionContext into its
 * AES-GCM ciphertexts (so Decrypt with another context fails, as on AWS).
 * It listens on every interface (no option to restrict it); tests only use 127.0.0.1.
 */
export async function startKms(
  bin: string,
  workDir: string,
): Promise<{ process: ManagedProcess; info: KmsInfo }> {
  const port = await freePort();
  const dir = join(workDir, 'kms');
  await mkdir(join(dir, 'data'), { recursive: true });
  const info: KmsInfo = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    // local-kms does not check signatures; the SDK still needs some credentials to sign with.
    accessKeyId: 'wa-test',
    secretAccessKey: 'wa-test',
  };
  const process = await ManagedProcess.start({
    name: 'local-kms',
    command: bin,
    args: [],
    env: {
      PORT: String(port),
      KMS_DATA_PATH: join(dir, 'data'),
      KMS_REGION: info.region,
      KMS_ACCOUNT_ID: '111122223333',
    },
    logFile: join(dir, 'kms.log'),
    ready: () => kmsAnswers(info.endpoint),
  });
  return { process, info };
}

/** ListKeys over the KMS JSON protocol: proves the endpoint serves the API, not just the port. */
async function kmsAnswers(endpoint: string): Promise<boolean> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' },
    body: '{}',
    signal: AbortSignal.timeout(2_000),
  });
  await res.body?.cancel();
  return res.ok;
}
