import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalOperator, type LocalOperatorProcess } from '../../../scripts/demo/local-stack.ts';
import { eventually } from '../../harness/eventually.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { testStack } from '../../harness/stack.ts';
import { fails, WA_ENTRY, waCli } from '../../harness/wa-cli.ts';
import { spawnSimulator, type SimulatorProcess } from '../../../wa-sim/control/process.ts';

/**
 * The `wa` CLI against a running local stack: the run's nats-server, the WhatsApp Web
 * simulator, and the operator in local mode with real worker processes. Channels are
 * added by writing their manifest into the watched folder, after the CLI is already
 * waiting for their QR code (QR codes are not stored, so only new ones can be shown).
 */
const run = promisify(execFile);
const clinic = `cli-${Date.now().toString(36)}`;
const PHONE = '15550003331';
const CODE_PHONE = '15550003332';
const PATIENT = '15550003333';
const WA = [WA_ENTRY];

const wa = waCli(['--server', testStack().nats.url]);

/** A long-running CLI command; resolves `ready` once it printed its waiting/listening line. */
function background(args: string[]) {
  const child = spawn(process.execPath, [...WA, '--server', testStack().nats.url, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const ready = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/waiting for|listening on/.test(stderr)) resolve();
    }),
  );
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { ready, done, child };
}

let dir: string;
let sim: SimulatorProcess;
let operator: LocalOperatorProcess;
let qrJson: { qr: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-cli-'));
  await writeFile(join(dir, 'root.hex'), '');
  sim = await spawnSimulator([
    '--trust-root-file',
    join(dir, 'root.hex'),
    '--user',
    `${PHONE}:Front desk`,
    '--user',
    `${CODE_PHONE}:Reception`,
    '--user',
    `${PATIENT}:Patient`,
  ]);
  const manifests = join(dir, 'manifests');
  await run('mkdir', ['-p', manifests]);
  operator = await startLocalOperator({
    manifests,
    stateDir: join(dir, 'state'),
    natsUrl: testStack().nats.url,
    workerEnv: { WA_WS_URL: sim.url, WA_TRUST_ROOT: join(dir, 'root.hex') },
  });
});

afterAll(async () => {
  await operator?.stop();
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

const manifest = (channel: string, pairing: string) => `apiVersion: whatsapp.clinic.dev/v1alpha1
kind: WhatsAppChannel
metadata:
  name: ${channel}
  namespace: ${clinic}
spec:
  clinicId: ${clinic}
  channelId: ${channel}
  pairing: ${pairing}
${pairing === 'code' ? `  phoneNumber: '+${CODE_PHONE}'\n` : ''}`;

describe('wa CLI against a local stack (local operator, workers, simulator, NATS)', () => {
  test('every command has --help', async () => {
    for (const command of [
      'status',
      'qr',
      'events',
      'send',
      'logout',
      'read',
      'presence',
      'react',
      'edit',
      'delete',
      'check',
    ]) {
      const { stdout } = await wa(command, '--help');
      expect(stdout).toContain(`Usage: wa ${command}`);
    }
  });

  test('qr draws the QR code of a new channel, prints the pairing code of another; the phone scans it', async () => {
    const text = background(['qr', `${clinic}/front-desk`]);
    const json = background(['--json', 'qr', `${clinic}/front-desk`]);
    const code = background(['qr', `${clinic}/reception`]);
    await Promise.all([text.ready, json.ready, code.ready]);
    await writeFile(
      join(dir, 'manifests', 'channels.yaml'),
      `${manifest('front-desk', 'qr')}---\n${manifest('reception', 'code')}`,
    );
    const [t, j, c] = await Promise.all([text.done, json.done, code.done]);
    expect(t.code).toBe(0);
    // qrcode-terminal's small mode: half blocks, one line per two rows of modules.
    expect(t.stdout).toMatch(/[▄▀█]{10,}/);
    expect(t.stdout).toContain(`QR 1/6 for ${clinic}/front-desk: scan it in WhatsApp → Linked devices.`);
    expect(c.stdout).toMatch(new RegExp(`^Pairing code for \\+${CODE_PHONE}: [A-Z0-9]{8}$`, 'm'));
    qrJson = JSON.parse(j.stdout) as { qr: string };
    await sim.client.scanQr(PHONE, qrJson.qr);
    await operator.waitLine(
      'front-desk Connected',
      (l) => l.channel === `${clinic}/front-desk` && l.phase === 'Connected',
    );
  });

  test('status prints a table of the channels and their phases, from JetStream', async () => {
    const { stdout } = await wa('status', clinic);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^CLINIC\s+CHANNEL\s+PHASE\s+REASON\s+ACCOUNT\s+RECONNECTS\s+DEGRADED\s+WA VERSION\s+UPDATED$/,
    );
    // The WhatsApp Web version each worker announces (here Baileys' built-in one).
    const frontDesk = lines.find((l) => l.includes(' front-desk '))!;
    expect(frontDesk).toMatch(/\s(yes|no)\s+\d+\.\d+\.\d+\s+\d{4}-/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [clinic, 'front-desk', 'Connected'],
      [clinic, 'reception', 'Pairing'],
    ]);
    const json = JSON.parse((await wa('--json', 'status', clinic)).stdout) as Array<Record<string, string>>;
    expect(json.find((s) => s.channelId === 'front-desk')!.account).toMatch(new RegExp(`^${PHONE}:\\d+@`));
  });

  test('events --json tails an inbound message as it arrives', async () => {
    const tail = background(['--json', 'events', `${clinic}/front-desk`, '--count', '1']);
    await tail.ready;
    await sim.client.sendText(PATIENT, `${PHONE}@s.whatsapp.net`, 'is the clinic open on Saturday?');
    const { code, stdout } = await tail.done;
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      subject: `wa.${clinic}.front-desk.msg.in`,
      clinicId: clinic,
      channelId: 'front-desk',
      sender: `${PATIENT}@s.whatsapp.net`,
      text: 'is the clinic open on Saturday?',
    });
  });

  test("send delivers a text that the contact's phone receives; a retry with the same key is not sent twice", async () => {
    const args = ['send', `${clinic}/front-desk`, `+${PATIENT}`, 'Yes, 9 to 12.', '--idempotency-key', 'k-1'];
    const first = await wa(...args);
    expect(first.stdout.trim()).toMatch(/^sent \(message id \S+\)$/);
    await sim.client.waitForMessage(PATIENT, (m) => m.text === 'Yes, 9 to 12.', 20_000);
    const again = await wa(...args);
    expect(again.stdout.trim()).toMatch(/replayed/);
    expect((await sim.client.inbox(PATIENT)).filter((m) => m.text === 'Yes, 9 to 12.')).toHaveLength(1);
  });

  test('an unknown channel and bad input are clear errors, and nothing is sent', async () => {
    const unknown = await fails(wa('send', `${clinic}/nobody`, `+${PATIENT}`, 'x'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`no worker answers for ${clinic}/nobody`);
    const bad = await fails(wa('send', 'Clinic.A/x', `+${PATIENT}`, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not <clinic>/<channel>');
    expect((await fails(wa('logout', `${clinic}/front-desk`))).stderr).toContain("required option '--yes'");
    const refused = await fails(wa('send', `${clinic}/reception`, `+${PATIENT}`, 'not linked yet'));
    expect(refused.stderr).toContain('NotConnected');
  });

  test('read, presence, reply, react, edit, delete, check and group info: the phone sees each', async () => {
    const channel = `${clinic}/front-desk`;
    const patientJid = `${PATIENT}@s.whatsapp.net`;
    const asked = await sim.client.sendText(PATIENT, `${PHONE}@s.whatsapp.net`, 'may I bring my exam?');
    const read = await wa('read', channel, `+${PATIENT}`, asked.id);
    expect(read.stdout.trim()).toBe(`marked 1 message(s) read in ${patientJid}`);
    await eventually('the read receipt', async () =>
      (await sim.client.receipts(PATIENT)).some((r) => r.id === asked.id && r.type === 'read'),
    );
    expect((await wa('presence', channel, 'composing', patientJid)).stdout.trim()).toBe(
      `composing in ${patientJid}`,
    );
    await eventually('typing shown', async () =>
      (await sim.client.chatStates(PATIENT)).some((c) => c.state === 'composing'),
    );

    const sentLine = (await wa('send', channel, `+${PATIENT}`, 'Yes, please.', '--reply-to', asked.id))
      .stdout;
    const sentId = /message id (\S+)\)/.exec(sentLine)![1]!;
    const reply = await sim.client.waitForMessage(PATIENT, (m) => m.id === sentId, 20_000);
    expect(reply.action).toEqual({ quoted: asked.id });
    const reactLine = (await wa('react', channel, patientJid, asked.id, '👍')).stdout;
    expect(reactLine).toMatch(/^reacted 👍 \(message id \S+\)/);
    await sim.client.waitForMessage(PATIENT, (m) => m.action?.reaction?.messageId === asked.id, 20_000);
    await wa('edit', channel, patientJid, sentId, 'Yes, please bring it.');
    const edit = await sim.client.waitForMessage(
      PATIENT,
      (m) => m.action?.edit?.messageId === sentId,
      20_000,
    );
    expect(edit.action?.edit?.text).toBe('Yes, please bring it.');
    expect((await wa('delete', channel, patientJid, sentId)).stdout).toMatch(/^deleted for everyone/);
    await sim.client.waitForMessage(PATIENT, (m) => m.action?.revoke?.messageId === sentId, 20_000);

    const check = JSON.parse(
      (await wa('--json', 'check', channel, `+${PATIENT}`, '+15559990000')).stdout,
    ) as {
      result: { results: { number: string; exists: boolean }[] };
    };
    expect(check.result.results.map((r) => [r.number, r.exists])).toEqual([
      [PATIENT, true],
      ['15559990000', false],
    ]);
    const group = await sim.client.createGroup(PATIENT, 'Exams', [PHONE, CODE_PHONE]);
    const info = (await wa('group', 'info', channel, group.jid)).stdout;
    expect(info).toContain(`Exams (${group.jid}), 3 participants`);
    expect(info).toMatch(new RegExp(`${PATIENT}@s\\.whatsapp\\.net\\s+\\d+@lid\\s+superadmin`));
    const unknown = await fails(wa('group', 'info', channel, '120363000000000555@g.us'));
    expect(unknown.stderr).toContain('NotFound');
    const bad = await fails(wa('presence', channel, 'composing'));
    expect(bad.stderr).toContain('/chat: required for state composing');
  });

  test('NATS unreachable is a clear error', async () => {
    const err = await fails(run(process.execPath, [...WA, '--server', 'nats://127.0.0.1:1', 'status']));
    expect(err.stderr).toContain('cannot reach NATS at nats://127.0.0.1:1');
  });

  test("credentials of another clinic get 'no permission', not a hang or a stack trace", async () => {
    let nats: ManagedProcess | undefined;
    try {
      const started = await startNats(testStack().bins.natsServer, await mkdtemp(join(dir, 'restricted-')), {
        extraConfig: `authorization { users = [ { user: other, password: other-pw, permissions: {
           publish: ["wa.other.>"], subscribe: ["wa.other.>", "_INBOX.>"] } } ] }`,
      });
      nats = started.process;
      const url = started.info.url;
      const as = (...args: string[]) =>
        run(
          process.execPath,
          [...WA, '--server', url, '--user', 'other', '--password', 'other-pw', '--timeout', '5', ...args],
          { timeout: 30_000 },
        );
      const send = await fails(as('send', `${clinic}/front-desk`, `+${PATIENT}`, 'x'));
      expect(send.stderr).toContain(`no permission for ${clinic}/front-desk`);
      const events = await fails(as('events', clinic));
      expect(events.stderr).toContain(`no permission to read wa.${clinic}.>`);
      const status = await fails(as('status', clinic));
      expect(status.stderr).toContain('no permission');
      const wrongPassword = await fails(
        run(process.execPath, [...WA, '--server', url, '--user', 'other', '--password', 'nope', 'status']),
      );
      expect(wrongPassword.stderr).toContain(`NATS at ${url} refused the credentials of user other`);
    } finally {
      await nats?.stop();
    }
  });

  test('logout unlinks the device: the phone loses it and the channel asks for a new QR', async () => {
    const { stdout } = await wa('logout', `${clinic}/front-desk`, '--yes');
    expect(stdout.trim()).toBe(`${clinic}/front-desk logged out`);
    await eventually('the phone to show its linked device as removed', async () => {
      const devices = (await sim.client.getUser(PHONE)).devices;
      return devices.length > 0 && devices.every((d) => d.removed) ? true : undefined;
    });
    await operator.waitLine(
      'front-desk Disconnected/LoggedOutByCommand',
      (l) => l.channel === `${clinic}/front-desk` && l.reason === 'LoggedOutByCommand',
    );
    // qr --request asks the worker to pair again, and prints what it publishes.
    const again = await wa('qr', '--request', `${clinic}/front-desk`);
    expect(again.stdout).toContain(`QR 1/6 for ${clinic}/front-desk: scan it in WhatsApp → Linked devices.`);
  });
});
