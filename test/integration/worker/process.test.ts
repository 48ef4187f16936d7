import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');

function runWorker(
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'worker/src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

/** The worker process itself: `node worker/src/main.ts`. */
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
