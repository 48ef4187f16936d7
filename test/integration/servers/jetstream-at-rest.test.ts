import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { startNats } from '../../../local-servers/nats-server.ts';
import type { ManagedProcess } from '../../../local-servers/managed-process.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';

/**
 * T20 (docs/security.md): patients' messages are encrypted at rest in JetStream. The same
 * message is stored by a server configured as local mode and the tests configure it (cipher on)
 * and by one without the cipher; the store files of the first never contain the text, while
 * the second's do — which shows the scan would find it.
 */
const patientText = `Exam results for Maria Souza, CPF 123.456.789-00, ${Date.now()}`;
const running: { server: ManagedProcess; nc: NatsConnection }[] = [];
afterAll(async () => {
  for (const { server, nc } of running) {
    await nc.close();
    await server.stop();
  }
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Stores one message and returns the stream's store folder once the message is on disk. */
async function storeMessage(
  encryptAtRest: boolean,
): Promise<{ storeDir: string; files: () => Promise<Buffer[]> }> {
  const workDir = await mkdtemp(join(tmpdir(), `js-at-rest-${encryptAtRest}-`));
  const started = await startNats(testStack().bins.natsServer, workDir, { encryptAtRest });
  const nc = await connect({ servers: started.info.url });
  running.push({ server: started.process, nc });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'WA_CLINIC_A', subjects: ['wa.clinic-a.>'] });
  await nc
    .jetstream()
    .publish(
      'wa.clinic-a.front-desk.msg.in',
      new TextEncoder().encode(JSON.stringify({ text: patientText })),
    );
  const storeDir = join(workDir, 'nats', 'jetstream');
  const files = async () => Promise.all((await filesUnder(storeDir)).map((f) => readFile(f)));
  // The message has reached the block file once the stored bytes outgrow the text.
  await eventually('the message written to the store', async () => {
    const blocks = (await filesUnder(storeDir)).filter((f) => f.endsWith('.blk'));
    const sizes = await Promise.all(blocks.map(async (f) => (await readFile(f)).length));
    return sizes.some((size) => size > patientText.length);
  });
  return { storeDir, files };
}

test('a patient message stored by JetStream is not readable in the store files', async () => {
  const encrypted = await storeMessage(true);
  for (const content of await encrypted.files()) {
    expect(content.includes(Buffer.from(patientText))).toBe(false);
    expect(content.includes(Buffer.from('Maria Souza'))).toBe(false);
  }
});

test('control: without the cipher the same scan finds the text', async () => {
  const plain = await storeMessage(false);
  const found = await plain.files();
  expect(found.some((content) => content.includes(Buffer.from(patientText)))).toBe(true);
});
