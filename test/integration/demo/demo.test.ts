import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/paths.ts';

const run = promisify(execFile);

/**
 * The README's first command, run non-interactively: nats-server, the simulator and the
 * operator in local mode on deploy/examples, then every step of the scenario. The demo
 * checks each step itself; this test checks that every step's ✔ line is there, and that
 * nothing is left running afterwards (the demo ends its whole process group).
 */
test('npm run demo -- --ci: pairing by QR and by code, phases, inbound, a picture stored and read back, reply, SIGKILL restore without a QR', async () => {
  const result = await run(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'scripts/demo.ts'), '--ci'],
    { timeout: 110_000 },
  ).catch((err: { stdout: string; stderr: string }) => err);
  const out = result.stdout;
  const steps = [
    /^✔ clinic-b\/reception: pairing code published on NATS$/m,
    /^✔ clinic-b\/reception: paired and Connected \(account 5511987654321:\d+@s\.whatsapp\.net\)$/m,
    /^✔ clinic-a\/front-desk: QR code published on NATS$/m,
    /^✔ clinic-a\/front-desk: paired and Connected \(account \d+:\d+@s\.whatsapp\.net\)$/m,
    /^✔ operator: clinic-b\/reception Connected, clinic-a\/front-desk Connected/m,
    /^✔ inbound message on wa\.clinic-a\.front-desk\.msg\.in$/m,
    /^✔ picture on wa\.clinic-a\.front-desk\.msg\.in, stored by the worker \(media in:\w+, 167 bytes\)$/m,
    /^✔ picture read back over NATS \(167 bytes\), byte-identical to what the phone sent \(SHA-256\)$/m,
    /^✔ reply sent by the NATS command and received by the patient's phone/m,
    /^✔ clinic-a\/front-desk: worker killed, restarted by the operator and Connected again without a QR$/m,
  ];
  for (const step of steps)
    expect({ step: String(step), found: step.test(out) }).toEqual({ step: String(step), found: true });
  expect(out).toContain(`demo: ${steps.length} passed, 0 failed`);
  expect(out).not.toContain('✘');
  // The inbound message was printed as a clinic backend sees it.
  expect(out).toMatch(/nats {2}clinic-a\/front-desk message \S+ from 15550002222@s\.whatsapp\.net: Hello/);
  // Nothing of the demo is left running: no process names its state folder in its arguments
  // (operator, simulator) or its environment (workers: WA_STATE_DIR).
  const stateDir = /state \(encrypted\) and worker logs: (\S+)/.exec(out)?.[1];
  expect(stateDir).toMatch(/wa-demo-/);
  const leftover: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const read = (f: string) => readFile(`/proc/${pid}/${f}`, 'utf8').catch(() => '');
    const [args, env] = await Promise.all([read('cmdline'), read('environ')]);
    if (`${args}\0${env}`.includes(stateDir!)) leftover.push(args.replaceAll('\0', ' '));
  }
  expect(leftover).toEqual([]);
});
