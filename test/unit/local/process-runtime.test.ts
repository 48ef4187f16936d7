import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime, type DesiredWorker } from '../../../operator/src/local/process-runtime.ts';

/**
 * Local mode's stand-in for pods, with real child processes: a small script plays the
 * worker (it records its identity, then exits, runs, or ignores SIGTERM as told).
 */
let dir: string;
let entry: string;
let runtime: ProcessRuntime | undefined;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-runtime-'));
  entry = join(dir, 'worker.mjs');
  await writeFile(
    entry,
    `import { appendFileSync } from 'node:fs';
     if (process.env.MODE === 'stubborn') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
     appendFileSync(process.env.RECORD, JSON.stringify({ holder: process.env.WA_LEASE_HOLDER, port: process.env.WA_HTTP_PORT, host: process.env.WA_HTTP_HOST, pid: process.pid }) + '\\n');
     if (process.env.MODE === 'exit') process.exit(1);
     setInterval(() => {}, 1000);`,
  );
});
afterEach(async () => {
  await runtime?.stopAll();
  await rm(dir, { recursive: true, force: true });
});

const desired = (mode: string, hash = mode): DesiredWorker => ({
  key: 'clinic-a/front-desk',
  name: 'wa-front-desk',
  env: { MODE: mode, RECORD: join(dir, 'record') },
  specHash: hash,
  logFile: join(dir, 'worker.log'),
});
const records = async () =>
  (await readFile(join(dir, 'record'), 'utf8').catch(() => ''))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { holder: string; port: string; host: string; pid: number });

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ProcessRuntime', () => {
  test('a worker that keeps exiting is restarted with backoff, each time with a new identity', async () => {
    runtime = new ProcessRuntime({
      nodePath: process.execPath,
      workerEntry: entry,
      baseBackoffMs: 20,
      maxBackoffMs: 80,
    });
    await runtime.ensure(desired('exit'));
    const started = await waitFor(async () => ((await records()).length >= 5 ? records() : undefined));
    const holders = started.map((r) => r.holder);
    expect(new Set(holders).size).toBe(holders.length);
    for (const h of holders) expect(h).toMatch(/^wa-front-desk_[0-9a-f-]{36}$/);
    for (const r of started) expect(r.host).toBe('127.0.0.1'); // its HTTP server: this machine only
    const state = runtime.state('clinic-a/front-desk')!;
    expect(state.failures).toBeGreaterThanOrEqual(4);
    expect(state.restarts).toBeGreaterThanOrEqual(4);
    expect(state.lastExit).toMatchObject({ code: 1, signal: null });
  });

  test('a SIGKILLed worker is replaced; removal stops it with SIGTERM and nothing restarts it', async () => {
    runtime = new ProcessRuntime({ nodePath: process.execPath, workerEntry: entry, baseBackoffMs: 20 });
    await runtime.ensure(desired('run'));
    const [first] = await waitFor(async () => ((await records()).length === 1 ? records() : undefined));
    process.kill(first!.pid, 'SIGKILL');
    const second = await waitFor(async () => (await records())[1]);
    expect(second.holder).not.toBe(first!.holder);
    expect(runtime.state('clinic-a/front-desk')!.current!.holder).toBe(second.holder);
    await runtime.remove('clinic-a/front-desk');
    expect(alive(second.pid)).toBe(false);
    expect(runtime.state('clinic-a/front-desk')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect(await records()).toHaveLength(2);
  });

  test('a worker that ignores SIGTERM is killed after the grace period', async () => {
    runtime = new ProcessRuntime({ nodePath: process.execPath, workerEntry: entry, stopGraceMs: 300 });
    await runtime.ensure(desired('stubborn'));
    const [rec] = await waitFor(async () => ((await records()).length === 1 ? records() : undefined));
    // Its SIGTERM handler is installed before it writes its record.
    await runtime.remove('clinic-a/front-desk');
    expect(alive(rec!.pid)).toBe(false);
    expect(await readFile(join(dir, 'worker.log'), 'utf8')).toContain('ignoring SIGTERM');
  });

  test('a changed spec replaces the worker: the old one is gone before the new one starts', async () => {
    runtime = new ProcessRuntime({ nodePath: process.execPath, workerEntry: entry });
    await runtime.ensure(desired('run', 'v1'));
    const [old] = await waitFor(async () => ((await records()).length === 1 ? records() : undefined));
    await runtime.ensure(desired('run', 'v1'));
    await runtime.ensure(desired('run', 'v2'));
    expect(alive(old!.pid)).toBe(false);
    const fresh = await waitFor(async () => (await records())[1]);
    expect(fresh.holder).not.toBe(old!.holder);
    expect(await records()).toHaveLength(2);
  });
});
