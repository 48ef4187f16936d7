/**
 * npm run demo: the product on one machine, no cluster and no cloud account.
 *
 * Starts a local nats-server (JetStream), MinIO (S3) and local-kms, then runs one worker
 * process per example channel in deploy/examples/ (two clinics), each configured
 * exactly as the operator configures a worker pod (operator/src/pod.ts builds the
 * environment). It prints every event the clinics would receive on NATS and draws
 * QR codes in the terminal. It then kills one worker with SIGKILL and starts it again
 * to show that the session state is restored, not recreated.
 *
 * The workers connect to the real WhatsApp Web endpoint: with internet access a real
 * phone can scan the QR codes. The offline variant against the protocol simulator
 * (issue 3) is not wired yet, see README.
 *
 *   --ci   run the scripted scenario, check each step, exit 0 (all passed) or 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { connect } from 'nats';
import { parse } from 'yaml';
import type { WhatsAppChannel } from '../contract/index.ts';
import { eventLine } from '../cli/format.ts';
import { renderQr } from '../cli/commands/qr.ts';
import { parseOperatorConfig } from '../operator/src/config.ts';
import { buildWorkerPod } from '../operator/src/pod.ts';
import { S3ObjectStore } from '../worker/src/auth-store/object-store.ts';
import { repoRoot } from '../test/harness/paths.ts';
import { freePort } from '../test/harness/ports.ts';
import { startStack } from '../test/harness/stack.ts';

const ci = process.argv.includes('--ci');
const say = (line: string) => console.log(`\x1b[1m▶ ${line}\x1b[0m`);
const checks: Array<[string, boolean]> = [];
const check = (what: string, ok: boolean) => {
  checks.push([what, ok]);
  console.log(`${ok ? '✔' : '✘'} ${what}`);
};

say('starting nats-server (JetStream), MinIO (S3) and local-kms on loopback (first run builds them with Go)');
const running = await startStack((l) => console.log(`  ${l}`), ['nats', 's3', 'kms']);
const { nats, s3, kms } = running.stack;
const workers = new Map<string, ChildProcess>();
let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  say('stopping the workers (SIGTERM: they flush and release their leases) and the servers');
  await Promise.all(
    [...workers.values()].map(
      (w) => new Promise((r) => (w.exitCode !== null ? r(null) : (w.once('exit', r), w.kill('SIGTERM')))),
    ),
  );
  await running.stop();
  process.exit(code);
}
process.once('SIGINT', () => void shutdown(0));
process.once('SIGTERM', () => void shutdown(0));

try {
  const bucket = 'wa-demo';
  const aws = {
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  };
  const s3Client = new S3Client({ ...aws, endpoint: s3.endpoint, forcePathStyle: true });
  await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
  const kmsClient = new KMSClient({ ...aws, endpoint: kms.endpoint });
  const key = await kmsClient.send(new CreateKeyCommand({ Description: 'wa-demo platform key' }));
  const parsed = parseOperatorConfig({
    NATS_URL: nats.url,
    WA_WORKER_IMAGE: 'local',
    WA_S3_BUCKET: bucket,
    WA_S3_ENDPOINT: s3.endpoint,
    WA_KMS_KEY_ID: key.KeyMetadata!.KeyId!,
    WA_KMS_ENDPOINT: kms.endpoint,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));

  const dir = join(repoRoot, 'deploy', 'examples');
  const channels: WhatsAppChannel[] = [];
  for (const file of (await readdir(dir)).filter((f) => /^channel-.*\.ya?ml$/.test(f)).sort()) {
    const c = parse(await readFile(join(dir, file), 'utf8')) as WhatsAppChannel;
    c.metadata.uid = `demo-${c.metadata.name}`;
    channels.push(c);
  }
  say(
    `channels from deploy/examples: ${channels.map((c) => `${c.spec.clinicId}/${c.spec.channelId}`).join(', ')}`,
  );

  const nc = await connect({ servers: nats.url, name: 'demo-viewer' });
  const seen: Array<{ subject: string; body: Record<string, unknown> }> = [];
  nc.subscribe('wa.>', {
    callback: (_e, m) => {
      if (m.subject.includes('.cmd.')) return;
      const body = m.json<Record<string, unknown>>();
      seen.push({ subject: m.subject, body });
      if (!ci || !m.subject.endsWith('.qr')) console.log(`  ${eventLine(m.subject, body)}`);
      if (!ci && body.type === 'qr' && typeof body.qr === 'string')
        void renderQr(body.qr).then((q) => console.log(q));
    },
  });

  const start = async (channel: WhatsAppChannel, holder: string) => {
    const pod = buildWorkerPod(channel, parsed.config);
    const env: Record<string, string> = {};
    for (const e of pod.spec!.containers[0]!.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    env.WA_LEASE_HOLDER = holder;
    env.WA_HTTP_PORT = String(await freePort());
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(repoRoot, 'worker/src/main.ts')],
      {
        env: {
          PATH: process.env.PATH,
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
          ...env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    child.on('exit', (code, signal) => {
      if (!stopping) console.log(`  worker ${holder} exited (${signal ?? code})`);
    });
    workers.set(channel.spec.channelId, child);
    return child;
  };
  const waitFor = async (what: string, p: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!p()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
    return what.length > 0;
  };
  const phases = (clinic: string, channel: string, worker?: string) =>
    seen
      .filter((e) => e.subject === `wa.${clinic}.${channel}.status` && (!worker || e.body.worker === worker))
      .map((e) => String(e.body.phase));

  say('starting one worker per channel');
  for (const c of channels) await start(c, `wa-${c.metadata.name}-1`);
  for (const c of channels) {
    const { clinicId, channelId } = c.spec;
    check(
      `${clinicId}/${channelId}: worker took its lease and reports Pending → Connecting on NATS`,
      await waitFor('connecting', () => phases(clinicId, channelId).includes('Connecting'), 30_000),
    );
  }
  const store = new S3ObjectStore(bucket, { ...aws, endpoint: s3.endpoint, forcePathStyle: true });
  for (const c of channels) {
    const base = `wa/${c.spec.clinicId}/${c.spec.channelId}/`;
    const objects = (await store.list(base)).map((o) => o.key.slice(base.length));
    const journal = await store.get(`${base}journal/000000000001`);
    check(
      `${c.spec.clinicId}/${c.spec.channelId}: auth state stored encrypted in S3 (${objects.join(', ')})`,
      objects.includes('datakey') &&
        Buffer.from(journal?.body ?? [])
          .subarray(0, 4)
          .toString() === 'WAE1',
    );
  }

  const first = channels[0]!;
  const base = `wa/${first.spec.clinicId}/${first.spec.channelId}/`;
  const before = await store.get(`${base}datakey`);
  say(
    `killing the worker of ${first.spec.clinicId}/${first.spec.channelId} with SIGKILL, then starting a new one`,
  );
  workers.get(first.spec.channelId)!.kill('SIGKILL');
  await start(first, `wa-${first.metadata.name}-2`);
  say("the new worker waits until the dead worker's lease expires (15 s), then restores the state");
  const restored = await waitFor(
    'restored',
    () =>
      phases(first.spec.clinicId, first.spec.channelId, `wa-${first.metadata.name}-2`).includes('Connecting'),
    45_000,
  );
  const after = await store.get(`${base}datakey`);
  const journalSlots = (await store.list(`${base}journal/`)).length;
  check(
    `the restarted worker took over and restored the same state (same data key, journal continued: ${journalSlots} records)`,
    restored && before?.etag === after?.etag && journalSlots >= 2,
  );

  if (ci) {
    const failed = checks.filter(([, ok]) => !ok).length;
    console.log(`\ndemo: ${checks.length - failed} passed, ${failed} failed`);
    await nc.close();
    await shutdown(failed === 0 ? 0 : 1);
  }
  say('running: QR codes appear above when WhatsApp is reachable; Ctrl-C stops everything');
} catch (err) {
  console.error(`demo failed: ${(err as Error).stack ?? String(err)}`);
  await shutdown(1);
}
