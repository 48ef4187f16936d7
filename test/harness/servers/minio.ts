import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, httpOk } from '../process.ts';
import { freePort } from '../ports.ts';

export interface S3Info {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
}

/** MinIO serving the S3 API on loopback from a folder; the root user's keys are per run. */
export async function startMinio(
  bin: string,
  workDir: string,
): Promise<{ process: ManagedProcess; info: S3Info }> {
  const [port, consolePort] = [await freePort(), await freePort()];
  const dir = join(workDir, 'minio');
  await mkdir(join(dir, 'data'), { recursive: true });
  const info: S3Info = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'wa-test-root',
    secretAccessKey: `wa-test-${Math.random().toString(36).slice(2)}`,
    forcePathStyle: true,
  };
  const process = await ManagedProcess.start({
    name: 'minio',
    command: bin,
    args: [
      'server',
      join(dir, 'data'),
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
    ],
    env: {
      MINIO_ROOT_USER: info.accessKeyId,
      MINIO_ROOT_PASSWORD: info.secretAccessKey,
      MINIO_REGION: info.region,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      // Keep it from phoning home or scanning in the background during tests.
      MINIO_CALLHOME_ENABLE: 'off',
      MINIO_SCANNER_SPEED: 'slowest',
    },
    logFile: join(dir, 'minio.log'),
    ready: () => httpOk(`${info.endpoint}/minio/health/ready`),
  });
  return { process, info };
}
