import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { channelSubjects, clinicStream } from '../../../contract/index.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';

/**
 * The `wa` CLI against a real nats-server. The channel side is played by this test through
 * the worker's NATS contract (status in JetStream, request/reply commands, QR events);
 * the full stack with real workers is exercised by the demo test.
 */
const run = promisify(execFile);
const clinic = `cli-${Date.now().toString(36)}`;
const other = `${clinic}-x`;
const wa = (...args: string[]) =>
  run(process.execPath, [join(repoRoot, 'cli', 'wa.ts'), '--server', testStack().nats.url, ...args], {
    timeout: 30_000,
  });
const fails = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the command to fail');
    },
    (err: { code: number; stderr: string }) => err,
  );

let nc: NatsConnection;
const sent: unknown[] = [];

beforeAll(async () => {
  nc = await connect({ servers: testStack().nats.url });
  const jsm = await nc.jetstreamManager();
  const stream = clinicStream(clinic);
  await jsm.streams.add({ name: stream.name, subjects: stream.subjects });
  const js = nc.jetstream();
  for (const [channelId, phase, seq] of [
    ['front-desk', 'Connecting', 1],
    ['front-desk', 'Connected', 2],
    ['billing', 'QRRequired', 1],
  ] as const) {
    const status = {
      v: 1,
      clinicId: clinic,
      channelId,
      worker: `${channelId}-pod`,
      phase,
      reconnects: 0,
      degraded: false,
      at: new Date().toISOString(),
      seq,
      ...(phase === 'Connected' ? { account: '5511987654321@s.whatsapp.net' } : {}),
    };
    await js.publish(channelSubjects(clinic, channelId).status, JSON.stringify(status));
  }
  // The front-desk worker's command side.
  const subjects = channelSubjects(clinic, 'front-desk');
  nc.subscribe(subjects.commands, {
    callback: (_err, m) => {
      const verb = m.subject.split('.').pop();
      const body = m.json<Record<string, unknown>>();
      if (verb === 'send') {
        sent.push(body);
        m.respond(JSON.stringify({ v: 1, ok: true, result: { id: `MSG-${sent.length}` } }));
      } else {
        m.respond(
          JSON.stringify({
            v: 1,
            ok: false,
            error: { code: 'NotConnected', message: 'the session is not connected' },
          }),
        );
      }
    },
  });
  await nc.flush();
});
afterAll(async () => {
  await nc.close();
});

describe('wa CLI against a real nats-server', () => {
  test('status prints a table of every channel with its latest phase', async () => {
    const { stdout } = await wa('status', clinic);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CLINIC\s+CHANNEL\s+PHASE\s+REASON\s+ACCOUNT/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [clinic, 'billing', 'QRRequired'],
      [clinic, 'front-desk', 'Connected'],
    ]);
    const json = JSON.parse((await wa('--json', 'status', clinic)).stdout);
    expect(json.find((s: { channelId: string }) => s.channelId === 'front-desk').account).toBe(
      '5511987654321@s.whatsapp.net',
    );
  });

  test('status of a clinic with no stream says so', async () => {
    expect((await wa('status', other)).stdout).toContain(`no channels of ${other} have reported yet`);
  });

  test('send delivers a typed command and prints the message id', async () => {
    const { stdout } = await wa(
      'send',
      `${clinic}/front-desk`,
      '+5511999998888',
      'hello there',
      '--idempotency-key',
      'k-1',
    );
    expect(stdout.trim()).toBe('sent (message id MSG-1)');
    expect(sent.at(-1)).toEqual({ v: 1, idempotencyKey: 'k-1', to: '+5511999998888', text: 'hello there' });
  });

  test("a worker's error reply becomes a non-zero exit with its code", async () => {
    const err = await fails(wa('logout', `${clinic}/front-desk`, '--yes'));
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('NotConnected: the session is not connected');
  });

  test('an unknown channel is reported as such, not as a hang', async () => {
    const err = await fails(wa('--timeout', '3', 'send', `${clinic}/nobody`, '+5511999998888', 'x'));
    expect(err.stderr).toContain(`no worker answers for ${clinic}/nobody`);
  });

  test('bad input is refused before anything is sent', async () => {
    const before = sent.length;
    const err = await fails(wa('send', 'Clinic.A/x', '+5511999998888', 'x'));
    expect(err.code).toBe(2);
    expect(err.stderr).toContain('is not <clinic>/<channel>');
    expect((await fails(wa('logout', `${clinic}/front-desk`))).stderr).toContain("required option '--yes'");
    expect(sent.length).toBe(before);
  });

  test('NATS unreachable gives a clear error', async () => {
    const err = await fails(
      run(process.execPath, [join(repoRoot, 'cli', 'wa.ts'), '--server', 'nats://127.0.0.1:1', 'status']),
    );
    expect(err.stderr).toContain('cannot reach NATS at nats://127.0.0.1:1');
  });

  test('events tails status and messages of a channel as text', async () => {
    const child = spawn(process.execPath, [
      join(repoRoot, 'cli', 'wa.ts'),
      '--server',
      testStack().nats.url,
      'events',
      `${clinic}/billing`,
      '--count',
      '2',
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const listening = new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
    await listening;
    const s = channelSubjects(clinic, 'billing');
    nc.publish(
      s.status,
      JSON.stringify({
        v: 1,
        clinicId: clinic,
        channelId: 'billing',
        phase: 'Connected',
        at: '2026-11-25T10:00:00Z',
      }),
    );
    nc.publish(
      s.msgIn,
      JSON.stringify({
        v: 1,
        clinicId: clinic,
        channelId: 'billing',
        id: 'ABC',
        sender: '1@s.whatsapp.net',
        text: 'hi',
      }),
    );
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(out.trim().split('\n')).toEqual([
      `2026-11-25T10:00:00Z ${clinic}/billing status Connected`,
      expect.stringMatching(new RegExp(`${clinic}/billing message ABC from 1@s\\.whatsapp\\.net: hi$`)),
    ]);
  });

  test('qr --request asks the worker to pair and prints the pairing code it publishes', async () => {
    const s = channelSubjects(clinic, 'billing');
    const sub = nc.subscribe(s.command('pair'), {
      max: 1,
      callback: (_e, m) => {
        m.respond(JSON.stringify({ v: 1, ok: true, result: {} }));
        nc.publish(
          s.qr,
          JSON.stringify({
            v: 1,
            clinicId: clinic,
            channelId: 'billing',
            type: 'code',
            code: 'ABCD1234',
            phoneNumber: '5511987654321',
            at: new Date().toISOString(),
          }),
        );
      },
    });
    const { stdout } = await wa('qr', `${clinic}/billing`, '--request', '--phone', '+5511987654321');
    expect(stdout).toContain('Pairing code for +5511987654321: ABCD1234');
    sub.unsubscribe();
  });

  test('every command has --help', async () => {
    for (const command of ['status', 'qr', 'events', 'send', 'logout']) {
      const { stdout } = await wa(command, '--help');
      expect(stdout).toContain(`Usage: wa ${command}`);
    }
  });
});
