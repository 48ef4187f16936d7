import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelSubjects, CLINIC_JS_API_PREFIX, type StatusEvent } from '../../../contract/index.ts';
import { fails, waCli } from '../../harness/wa-cli.ts';
import { startTrustedNats, type TrustedNats } from './nats-fixture.ts';

/**
 * The `wa` CLI as a clinic's staff use it: with the clinic backend credential the operator
 * issues, on a nats-server in operator mode. It sees its own channels and nothing of another
 * clinic's, and says so in words.
 */
let n: TrustedNats;
let dir: string;
let credsA: string;

const wa = (...args: string[]) =>
  waCli(
    ['--server', n.url, '--creds', credsA],
    { NATS_JS_API_PREFIX: CLINIC_JS_API_PREFIX },
    30_000,
  )(...args);

function status(clinicId: string, channelId: string, phase: StatusEvent['phase'], seq: number): StatusEvent {
  return {
    v: 1,
    clinicId,
    channelId,
    worker: `wa-${channelId}_test`,
    phase,
    reconnects: 0,
    degraded: false,
    at: new Date().toISOString(),
    seq,
  };
}

beforeAll(async () => {
  n = await startTrustedNats();
  dir = await mkdtemp(join(tmpdir(), 'wa-cli-clinic-'));
  credsA = join(dir, 'clinic-a.creds');
  await writeFile(credsA, (await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
  await chmod(credsA, 0o600);
  // The workers' status reports, as stored by JetStream (published here by the platform user).
  const js = n.platform.jetstream();
  const publish = (s: StatusEvent) =>
    js.publish(channelSubjects(s.clinicId, s.channelId).status, JSON.stringify(s));
  await publish(status(n.clinicA, 'front', 'Connecting', 1));
  await publish(status(n.clinicA, 'front', 'Connected', 2));
  await publish(status(n.clinicA, 'lab', 'QRRequired', 1));
  await publish(status(n.clinicB, 'front', 'Connected', 1));
}, 60_000);

afterAll(async () => {
  await n?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("a clinic's credential lists its own channels' latest phases", async () => {
  const rows = JSON.parse((await wa('--json', 'status', n.clinicA)).stdout) as StatusEvent[];
  expect(rows.map((r) => [r.clinicId, r.channelId, r.phase])).toEqual([
    [n.clinicA, 'front', 'Connected'],
    [n.clinicA, 'lab', 'QRRequired'],
  ]);
  const { stdout } = await wa('status', n.clinicA);
  expect(stdout).toMatch(new RegExp(`${n.clinicA}\\s+front\\s+Connected`));
});

test("another clinic's status, events and commands are refused with 'no permission'", async () => {
  const status = await fails(wa('status', n.clinicB));
  expect(status.code).toBe(1);
  expect(status.stderr).toContain(`no permission for the status of ${n.clinicB}`);
  expect(status.stderr).not.toContain('Connected');

  const events = await fails(wa('events', n.clinicB, '--count', '1'));
  expect(events.stderr).toContain(`no permission to read wa.${n.clinicB}.>`);

  const send = await fails(wa('send', `${n.clinicB}/front`, '+15550001111', 'hello'));
  expect(send.code).toBe(1);
  expect(send.stderr).toContain(`no permission for ${n.clinicB}/front`);
});

test('listing every clinic needs the platform credential', async () => {
  const err = await fails(wa('status'));
  expect(err.stderr).toContain('no permission for listing the clinics');
});
