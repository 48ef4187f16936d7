import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import pino from 'pino';
import { channelSubjects } from '../../../contract/index.ts';
import { freePort } from '../../../local-servers/free-port.ts';
import { httpOk, ManagedProcess } from '../../../local-servers/managed-process.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { eventually } from '../../harness/eventually.ts';
import { adminKubectl } from '../../harness/kubectl.ts';
import { testStack } from '../../harness/stack.ts';
import { fails, waCli } from '../../harness/wa-cli.ts';
import { publishVerdict } from '../isolation/nats-fixture.ts';
import { applyChannel, prepareNamespace, testConfig } from '../operator/fixtures.ts';

/**
 * `wa nats bootstrap` as an installer runs it: the configuration it prints, written to a file,
 * starts a real nats-server; the operator, given the issuer folder it wrote (and its platform
 * user), issues a worker credential on the real API server that signs in to that server and
 * may publish only its own channel's subjects. No seed is ever printed.
 */
const stack = testStack();
const kubectl = adminKubectl();
const wa = waCli([]);
const ns = `bootstrap-${randomUUID().slice(0, 6)}`;
const clinic = `clinic-${randomUUID().slice(0, 6)}`;

let dir: string;
let out: string;
let stdout: string;
let stderr: string;
let server: ManagedProcess | undefined;
let url: string;
let controller: Controller | undefined;
const open: NatsConnection[] = [];

const connectWith = async (creds: string) => {
  const nc = await connect({
    servers: url,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    maxReconnectAttempts: 0,
  });
  open.push(nc);
  return nc;
};

/** The text between the begin and end lines, as the installer copies it. */
function printedConfig(text: string): string {
  const match =
    /^# --- whatsapp-operator NATS trust: begin ---$[\s\S]*?^# --- whatsapp-operator NATS trust: end ---$/m.exec(
      text,
    );
  if (!match) throw new Error(`no configuration in the output:\n${text}`);
  return match[0];
}

/** Every seed in the files: nkey seeds (alone or inside .creds files) and the clinic master key. */
async function seedsIn(folder: string): Promise<string[]> {
  const seeds: string[] = [];
  for (const file of [
    ...(await readdir(join(folder, 'issuer'))).map((f) => join(folder, 'issuer', f)),
    join(folder, 'platform.creds'),
    join(folder, 'jetstream.key'),
  ]) {
    const bytes = await readFile(file);
    if (file.endsWith('jetstream.key')) {
      seeds.push(JSON.parse(bytes.toString('utf8')) as string);
      continue;
    }
    if (file.endsWith('clinic-master.key')) {
      seeds.push(bytes.toString('hex'), bytes.toString('base64'));
      continue;
    }
    seeds.push(...(bytes.toString('utf8').match(/\bS[OAU][A-Z2-7]{50,}\b/g) ?? []));
  }
  return seeds;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-bootstrap-'));
  out = join(dir, 'trust');
  ({ stdout, stderr } = await wa(
    'nats',
    'bootstrap',
    '--out',
    out,
    '--namespace',
    ns,
    '--resolver-dir',
    join(dir, 'accounts'),
    '--store-dir',
    join(dir, 'jetstream'),
  ));
  // The printed configuration, written to a file as an installer would, plus this test's ports.
  const configFile = join(dir, 'nats.conf');
  await writeFile(configFile, `${printedConfig(stdout)}\n`);
  const [port, monitorPort] = [await freePort(), await freePort()];
  url = `nats://127.0.0.1:${port}`;
  server = await ManagedProcess.start({
    name: 'nats-server (bootstrapped)',
    command: stack.bins.natsServer,
    args: ['-c', configFile, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)],
    // As the printed Secret gives it: the file's content is the variable's value.
    env: { JS_STORE_KEY: await readFile(join(out, 'jetstream.key'), 'utf8') },
    logFile: join(dir, 'nats.log'),
    ready: () => httpOk(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`),
  });
  await prepareNamespace(kubectl, ns);
  await kubectl('label', 'namespace', ns, `whatsapp.clinic.dev/clinic=${clinic}`);
  const kc = new KubeConfig();
  kc.loadFromFile(stack.kube.kubeconfig);
  const platform = await connectWith(await readFile(join(out, 'platform.creds'), 'utf8'));
  controller = await startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: url,
      WA_RESYNC_SECONDS: '3600',
      WA_WORKER_SERVICE_ACCOUNT: 'whatsapp-worker',
      WA_WORKER_NATS_SECRET: 'wa-nats-{clinicId}-{channelId}',
      WA_NATS_ISSUER_DIR: join(out, 'issuer'),
    }),
    platform,
    pino({ level: 'silent' }),
  );
}, 90_000);

afterAll(async () => {
  await controller?.stop();
  for (const nc of open) await nc.close().catch(() => undefined);
  await server?.stop();
  await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => undefined);
});

test('no seed is printed: they are in the files only, each readable by its owner alone', async () => {
  const seeds = await seedsIn(out);
  // Two signing keys, the system and platform users, the clinic master key (hex and base64), the JetStream key.
  expect(seeds).toHaveLength(7);
  for (const seed of seeds) {
    expect(stdout).not.toContain(seed);
    expect(stderr).not.toContain(seed);
  }
  expect(stdout).not.toMatch(/\bS[OAU][A-Z2-7]{50,}\b/);
  expect(stdout).not.toContain('NKEY SEED');
  for (const file of await readdir(join(out, 'issuer')))
    expect((await stat(join(out, 'issuer', file))).mode & 0o777).toBe(0o600);
  expect((await readdir(join(out, 'issuer'))).sort()).toEqual([
    'clinic-master.key',
    'operator-signing.nk',
    'platform-account.pub',
    'platform-signing.nk',
    'system.creds',
  ]);
  for (const file of ['platform.creds', 'jetstream.key'])
    expect((await stat(join(out, file))).mode & 0o777).toBe(0o600);
  expect(await readFile(join(out, 'jetstream.key'), 'utf8')).toMatch(/^"[0-9a-f]{64}"$/);
  expect((await stat(join(out, 'issuer'))).mode & 0o777).toBe(0o700);
});

test('it prints the configuration it wrote, JetStream encrypted, and the commands for the Secrets', async () => {
  const config = printedConfig(stdout);
  expect(await readFile(join(out, 'nats-server.conf'), 'utf8')).toBe(`${config}\n`);
  expect(config).toMatch(/^operator: eyJ/m);
  expect(config).toMatch(/^system_account: A[A-Z2-7]{55}$/m);
  expect(config).toMatch(/^resolver: \{ type: full,/m);
  expect(config).toContain('cipher: chachapoly, key: $JS_STORE_KEY');
  expect(stdout).toContain(
    `kubectl -n ${ns} create secret generic whatsapp-operator-nats-issuer --from-file=${join(out, 'issuer')}`,
  );
  expect(stdout).toContain(
    `kubectl -n ${ns} create secret generic whatsapp-operator-nats --from-file=creds=${join(out, 'platform.creds')}`,
  );
  expect(stdout).toContain(
    `kubectl -n nats create secret generic nats-jetstream-key --from-file=JS_STORE_KEY=${join(out, 'jetstream.key')}`,
  );
});

test('the kubectl command it prints makes the issuer Secret the operator mounts (real API server)', async () => {
  const line = stdout
    .split('\n')
    .find((l) => l.includes('create secret generic whatsapp-operator-nats-issuer'))!;
  const args = line.split(' ').slice(1);
  await kubectl(...args);
  const secret: V1Secret = JSON.parse(
    (await kubectl('get', 'secret', 'whatsapp-operator-nats-issuer', '-n', ns, '-o', 'json')).stdout,
  );
  expect(Object.keys(secret.data!).sort()).toEqual((await readdir(join(out, 'issuer'))).sort());
  const master = await readFile(join(out, 'issuer', 'clinic-master.key'));
  expect(Buffer.from(secret.data!['clinic-master.key']!, 'base64').equals(master)).toBe(true);
});

test('the operator, given the written issuer folder, issues a worker credential that signs in to that server', async () => {
  await applyChannel(kubectl, stack.workDir, ns, 'front', { clinicId: clinic });
  const workerSecret: V1Secret = await eventually('the worker credential', async () =>
    JSON.parse((await kubectl('get', 'secret', `wa-nats-${clinic}-front`, '-n', ns, '-o', 'json')).stdout),
  );
  const worker = await connectWith(Buffer.from(workerSecret.data!.creds!, 'base64').toString());
  expect(await publishVerdict(worker, channelSubjects(clinic, 'front').status)).toBeUndefined();
  expect(await publishVerdict(worker, channelSubjects(clinic, 'other').status)).toMatch(
    /PERMISSIONS_VIOLATION/,
  );
  // The clinic's stream, created by the operator's platform user right after the Secrets (so
  // waited for), stores on the encrypted JetStream.
  const stream = `WA_${clinic.toUpperCase().replace(/-/g, '_')}`;
  const jsm = await open[0]!.jetstreamManager();
  await eventually('the clinic stream', () => jsm.streams.info(stream));
  const stored = await open[0]!
    .jetstream()
    .publish(channelSubjects(clinic, 'front').status, new TextEncoder().encode('{}'));
  expect(stored.stream).toBe(stream);
});

test('a second bootstrap into the same folder is refused: a trust chain is never overwritten', async () => {
  const before = await readFile(join(out, 'issuer', 'clinic-master.key'));
  const failed = await fails(wa('nats', 'bootstrap', '--out', out));
  expect(failed.code).toBe(2);
  expect(failed.stderr).toMatch(/is not empty: a trust chain is created once and never overwritten/);
  expect((await readFile(join(out, 'issuer', 'clinic-master.key'))).equals(before)).toBe(true);
});
