import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, httpOk } from '../process.ts';
import { freePort } from '../ports.ts';

/** A single-member etcd for the API server, on loopback, with fsync off (test data only). */
export async function startEtcd(
  bin: string,
  workDir: string,
): Promise<{ process: ManagedProcess; url: string }> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dir = join(workDir, 'etcd');
  await mkdir(dir, { recursive: true });
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const process = await ManagedProcess.start({
    name: 'etcd',
    command: bin,
    args: [
      '--name=test',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: join(dir, 'etcd.log'),
    ready: () => httpOk(`${url}/health`),
  });
  return { process, url };
}
