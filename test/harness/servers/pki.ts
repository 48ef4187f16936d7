import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ControlPlanePki {
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  serviceAccountPublicKeyFile: string;
  serviceAccountPrivateKeyFile: string;
}

/**
 * A throw-away CA, a serving certificate for 127.0.0.1/localhost (and `extraIps`) and the key pair
 * that signs service-account tokens. openssl makes the certificates because Node
 * has no API to issue X.509 certificates.
 */
export async function createControlPlanePki(dir: string, extraIps: string[] = []): Promise<ControlPlanePki> {
  const p = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-days',
      '3650',
      '-subj',
      '/CN=wa-test-ca',
    ]);
    await run('openssl', [
      'req',
      ...ec,
      '-keyout',
      p('server.key'),
      '-out',
      p('server.csr'),
      '-subj',
      '/CN=kube-apiserver',
    ]);
    await writeFile(
      p('server.ext'),
      `subjectAltName=${['127.0.0.1', ...extraIps].map((ip) => `IP:${ip}`).join(',')},DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n`,
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      p('server.csr'),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p('server.crt'),
      '-days',
      '3650',
      '-extfile',
      p('server.ext'),
    ]);
  } catch (err) {
    throw new Error(
      `kube-apiserver: creating test certificates with openssl failed: ${(err as Error).message}`,
    );
  }
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(p('sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(p('sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return {
    caFile: p('ca.crt'),
    caKeyFile: p('ca.key'),
    serverCertFile: p('server.crt'),
    serverKeyFile: p('server.key'),
    serviceAccountPublicKeyFile: p('sa.pub'),
    serviceAccountPrivateKeyFile: p('sa.key'),
  };
}
