/**
 * Runs the simulator as its own process:
 *
 *   node wa-sim/main.ts [--host 127.0.0.1] [--port 0] [--control-port 0]
 *        [--trust-root-file FILE] [--media-ca-file FILE] [--user PN[:NAME]]… [--qr-refs 6] [--duplicate-login replace-old|allow]
 *        [--refuse-version 2.3000.1]… [--accept-version 2.3000.2]…
 *
 * When ready it prints one JSON line on stdout: {"url","controlUrl","rootPublicKey","mediaHost"}; with
 * --trust-root-file it also writes the root key there (hex), the worker's WA_TRUST_ROOT; with
 * --media-ca-file the media host's test CA (PEM), the worker's NODE_EXTRA_CA_CERTS.
 * SIGINT/SIGTERM stop it.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startControlServer } from './control/http-api.ts';
import { startSimulator } from './simulator.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'control-port': { type: 'string', default: '0' },
    'trust-root-file': { type: 'string' },
    // Where to write the media host's test CA (PEM): NODE_EXTRA_CA_CERTS of client processes.
    'media-ca-file': { type: 'string' },
    user: { type: 'string', multiple: true, default: [] },
    'qr-refs': { type: 'string', default: '6' },
    'duplicate-login': { type: 'string', default: 'replace-old' },
    // Client versions refused (405) or, when any --accept-version is given, the only ones let in.
    'refuse-version': { type: 'string', multiple: true, default: [] },
    'accept-version': { type: 'string', multiple: true, default: [] },
  },
});

function port(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`--${name} must be a port number, got ${value}`);
  return n;
}

const duplicateLogin = values['duplicate-login'];
if (duplicateLogin !== 'replace-old' && duplicateLogin !== 'allow') {
  throw new Error('--duplicate-login is replace-old or allow');
}

const sim = await startSimulator({
  host: values.host,
  port: port('port', values.port),
  qrRefs: port('qr-refs', values['qr-refs']),
  duplicateLogin,
  clientVersions: {
    refused: values['refuse-version'],
    ...(values['accept-version'].length ? { accepted: values['accept-version'] } : {}),
  },
});
for (const spec of values.user) {
  const [pn, ...name] = spec.split(':');
  sim.user(pn!, name.length ? name.join(':') : undefined);
}
const control = await startControlServer(sim, values.host, port('control-port', values['control-port']));
const rootPublicKey = sim.rootPublicKey.toString('hex');
if (values['trust-root-file']) await writeFile(values['trust-root-file'], rootPublicKey);
if (values['media-ca-file']) await writeFile(values['media-ca-file'], sim.media.caPem);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await control.close();
  await sim.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

process.stdout.write(
  `${JSON.stringify({ url: sim.url, controlUrl: control.url, rootPublicKey, mediaHost: sim.media.hostname })}\n`,
);
