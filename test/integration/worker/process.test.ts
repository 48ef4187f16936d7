import { spawnNode } from '../../harness/node-process.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

async function runWorker(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const worker = spawnNode(WORKER_ENTRY, env);
  const code = await worker.exited;
  return { code, stdout: worker.stdout(), stderr: worker.stderr() };
}

/** The worker process itself, as its image runs it (the bundle of `worker/src/main.ts`). */
describe('worker process', () => {
  test('an invalid environment exits 2 and names every problem', async () => {
    const r = await runWorker({ WA_CLINIC_ID: 'Clinic_A', WA_PAIRING: 'code', WA_HTTP_PORT: 'x' });
    expect(r.code).toBe(2);
    for (const needle of [
      'WA_CLINIC_ID="Clinic_A"',
      'WA_CHANNEL_ID is required',
      'WA_PHONE_NUMBER is required',
      'WA_HTTP_PORT="x"',
      'NATS_URL is required',
    ]) {
      expect(r.stderr).toContain(needle);
    }
    expect(r.stdout).toBe('');
  });
});
