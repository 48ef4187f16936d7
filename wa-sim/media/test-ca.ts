/**
 * A certificate authority made at run time for the simulated media host: WhatsApp's media hosts
 * are HTTPS, and Baileys uploads with Node's `https` and downloads with `fetch`, both of which
 * check the server certificate. The CA exists only in memory and in the PEM file a test hands to
 * the client process (NODE_EXTRA_CA_CERTS), so nothing outside the test ever trusts it.
 *
 * Keys come from Node's crypto (native RSA); node-forge writes the certificates, which Node's
 * crypto cannot do.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface TestCertificates {
  /** The CA certificate clients must trust (PEM). */
  caPem: string;
  /** The leaf certificate of the media host (PEM), signed by the CA. */
  certPem: string;
  /** The leaf's private key (PEM). */
  keyPem: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function keyPair(): {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  pem: string;
} {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return {
    privateKey: forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
    pem: privateKey,
  };
}

function certificate(publicKey: forge.pki.PublicKey, commonName: string): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x01 byte keeps the DER integer from reading as negative.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + 7 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return cert;
}

/**
 * A CA and a leaf for `host` (an IP address gets an IP subjectAltName, which TLS clients require
 * for a connection by address; a name gets a DNS one). Valid from a day ago for a week.
 */
export function makeTestCertificates(host: string): TestCertificates {
  const caKeys = keyPair();
  // A name of its own: TLS finds the issuer by name, and with two simulators' CAs trusted in one
  // process, a shared name would have it check a leaf against the wrong CA.
  const ca = certificate(caKeys.publicKey, `wa-sim test media CA ${randomBytes(6).toString('hex')}`);
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const leafKeys = keyPair();
  const leaf = certificate(leafKeys.publicKey, host);
  leaf.setIssuer(ca.subject.attributes);
  const altNames: { type: number; value?: string; ip?: string }[] = [{ type: 2, value: 'localhost' }];
  if (isIP(host)) altNames.push({ type: 7, ip: host });
  else if (host !== 'localhost') altNames.push({ type: 2, value: host });
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());
  return {
    caPem: forge.pki.certificateToPem(ca),
    certPem: forge.pki.certificateToPem(leaf),
    keyPem: leafKeys.pem,
  };
}
