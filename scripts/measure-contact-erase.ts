/**
 * Measures a data-subject erasure (`wa contact erase`, docs/contract.md "Erasing one contact")
 * on a clinic stream of N inbound messages from 100 contacts, so one contact has 1 % of them:
 * the two-pass scan, one `deleteMessage` (with erase) per event, and the read-back.
 *
 *   node scripts/measure-contact-erase.ts nats://127.0.0.1:4222 [N=10000]
 *
 * Against a throw-away nats-server with JetStream: it creates the stream WA_MEASURE.
 */
import { connect } from 'nats';
import { channelSubjects, clinicStream, ensureClinicStream } from '../contract/index.ts';
import { eraseEvents, scanContact } from '../cli/commands/contact-data.ts';

const [server = 'nats://127.0.0.1:4222', size = '10000'] = process.argv.slice(2);
const N = Number(size);
const CONTACTS = 100;
const clinic = 'measure';
const contactJid = (i: number) => `55119${String(i % CONTACTS).padStart(8, '0')}@s.whatsapp.net`;
const run = Date.now().toString(36); // message ids unique per run: the stream deduplicates for 24 h
const ms = (t: number) => `${(performance.now() - t).toFixed(0)} ms`;

const nc = await connect({ servers: server });
const jsm = await nc.jetstreamManager();
const stream = clinicStream(clinic).name;
await ensureClinicStream(jsm, clinic);
await jsm.streams.purge(stream);
const js = nc.jetstream();
const subjects = channelSubjects(clinic, 'main');

let t = performance.now();
for (let from = 0; from < N; from += 500) {
  const batch: Promise<unknown>[] = [];
  for (let i = from; i < Math.min(N, from + 500); i++) {
    const jid = contactJid(i);
    const event = {
      v: 1,
      clinicId: clinic,
      channelId: 'main',
      id: `${run}-${i}`,
      chat: jid,
      sender: jid,
      fromMe: false,
    };
    batch.push(
      js.publish(subjects.msgIn, JSON.stringify({ ...event, text: 'x'.repeat(200) }), {
        msgID: `${run}-${i}`,
      }),
    );
  }
  await Promise.all(batch);
}
console.log(`published ${N} messages in ${ms(t)}`);

const contact = [contactJid(7)];
t = performance.now();
const scan = await scanContact(nc, clinic, contact);
console.log(`scan (two passes over ${N}): ${ms(t)}, ${scan.events.length} events of the contact`);
t = performance.now();
const erased = await eraseEvents(nc, scan);
console.log(`deleteMessage with erase, ${erased} times: ${ms(t)}`);
t = performance.now();
const left = (await scanContact(nc, clinic, contact)).events.length;
const info = await jsm.streams.info(stream);
console.log(`read-back: ${ms(t)}, ${left} left; the stream holds ${info.state.messages} messages`);
await nc.close();
