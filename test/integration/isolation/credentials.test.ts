import { adminKubectl } from '../../harness/kubectl.ts';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import pino from 'pino';
import { auditSubject, channelSubjects, validatePayload, type AuditEvent } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import {
  CREDENTIAL_ANNOTATION_USER,
  clinicCredentialSecretName,
  writeIssuerDir,
} from '../../../operator/src/nats/credentials-provisioner.ts';
import { connectNats } from '../../../worker/src/events/nats.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace, testConfig } from '../operator/fixtures.ts';
import { publishVerdict, startTrustedNats, storedAuditEvents, type TrustedNats } from './nats-fixture.ts';

const stack = testStack();
const kubectl = adminKubectl();

/**
 * Threat group "credentials leak or outlive their purpose" (docs/security.md): the operator
 * issues every credential itself (real API server, real nats-server in operator mode), puts it
 * only into Secrets it never reads, records each issue on the audit trail without secret
 * material, and a worker rotates to a new credential without a restart.
 */
describe('NATS credentials issued by the operator', () => {
  const ns = `iso-creds-${randomUUID().slice(0, 6)}`;
  let n: TrustedNats;
  let controller: Controller;
  const audit: { event: AuditEvent; raw: string }[] = [];
  const clinic = `clinic-${randomUUID().slice(0, 6)}`;

  beforeAll(async () => {
    n = await startTrustedNats();
    const issuerDir = join(stack.workDir, `${ns}-issuer`);
    await writeIssuerDir(issuerDir, n.trust.issuerKeys, n.trust.systemCreds);
    n.platform.subscribe('wa-audit.>', {
      callback: (_e, m) => {
        const checked = validatePayload('audit', m.json());
        if (checked.ok) audit.push({ event: checked.value, raw: m.string() });
      },
    });
    await n.platform.flush();
    await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
    const kc = new KubeConfig();
    kc.loadFromFile(stack.kube.kubeconfig);
    controller = await startController(
      await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
      testConfig({
        WA_WATCH_NAMESPACE: ns,
        NATS_URL: n.url,
        WA_RESYNC_SECONDS: '3600',
        WA_WORKER_SERVICE_ACCOUNT: 'whatsapp-worker',
        WA_WORKER_NATS_SECRET: 'wa-nats-{clinicId}-{channelId}',
        WA_NATS_ISSUER_DIR: issuerDir,
      }),
      await n.connectAs(n.trust.platformCreds),
      pino({ level: process.env.ISO_DEBUG ? 'debug' : 'silent' }),
    );
  }, 60_000);
  afterAll(async () => {
    await controller?.stop();
    await n?.stop();
    await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => undefined);
  });

  const secret = async (name: string): Promise<V1Secret> =>
    JSON.parse((await kubectl('get', 'secret', name, '-n', ns, '-o', 'json')).stdout);
  const credsOf = (s: V1Secret, key = 'creds') => Buffer.from(s.data![key]!, 'base64').toString();

  test("a channel's pod mounts its own worker credential, which works only for that channel", async () => {
    await applyChannel(kubectl, stack.workDir, ns, 'front', { clinicId: clinic });
    const pod: V1Pod = await eventually(
      'the worker pod',
      async () => JSON.parse((await kubectl('get', 'pods', '-n', ns, '-o', 'json')).stdout).items[0],
    );
    const volume = pod.spec!.volumes!.find((v) => v.secret);
    expect(volume?.secret?.secretName).toBe(`wa-nats-${clinic}-front`);
    const workerSecret = await secret(`wa-nats-${clinic}-front`);
    expect(workerSecret.metadata!.ownerReferences?.[0]).toMatchObject({
      kind: 'WhatsAppChannel',
      name: 'front',
    });
    const worker = await n.connectAs(credsOf(workerSecret));
    const own = channelSubjects(clinic, 'front');
    expect(await publishVerdict(worker, own.status, new Uint8Array())).toBeUndefined();
    expect(await publishVerdict(worker, channelSubjects(clinic, 'other').status)).toMatch(
      /PERMISSIONS_VIOLATION/,
    );

    // The clinic backend's credential, in the clinic's account that the operator pushed to nats-server.
    const backend = await n.connectAs(credsOf(await secret(clinicCredentialSecretName(clinic))));
    const events = backend.subscribe(`wa.${clinic}.>`, { max: 1 });
    await backend.flush();
    const stored = await n.platform.jetstream().publish(own.status, new TextEncoder().encode('{}'));
    for await (const m of events) expect(m.subject).toBe(own.status);
    // The operator created the clinic's stream (the worker may not).
    expect(stored.stream).toBe(`WA_${clinic.toUpperCase().replace(/-/g, '_')}`);
  });

  test('every credential issued is on the audit trail, without secret material', async () => {
    const issued = await eventually('two credential.issued events', async () => {
      const found = audit.filter(
        (a) => a.event.action === 'credential.issued' && a.event.clinicId === clinic,
      );
      return found.length >= 2 && found;
    });
    expect(issued.map((a) => a.event.details?.kind).sort()).toEqual(['clinic-backend', 'worker']);
    // Stored by the audit stream too: a platform engineer reads them back later, whoever listened.
    const stored = await eventually('the credential events in the audit stream', async () => {
      const events = (await storedAuditEvents(n.platform, clinic)).filter(
        (e) => e.action === 'credential.issued',
      );
      return events.length >= 2 && events;
    });
    expect(stored).toEqual(expect.arrayContaining(issued.map((a) => a.event)));
    const workerSecret = await secret(`wa-nats-${clinic}-front`);
    expect(issued.find((a) => a.event.details?.kind === 'worker')!.event.details?.user).toBe(
      workerSecret.metadata!.annotations![CREDENTIAL_ANNOTATION_USER],
    );
    const creds = credsOf(workerSecret);
    const jwt = creds.split('\n')[1]!;
    const seed = creds.match(/SU[A-Z0-9]{56}/)![0];
    for (const a of issued) {
      expect(a.raw).not.toContain(seed);
      expect(a.raw).not.toContain(jwt);
      expect(a.raw).not.toMatch(/SU[A-Z0-9]{56}/);
      expect(a.event.source).toBe('operator');
    }
    expect(auditSubject(clinic, 'front')).toBe(`wa-audit.${clinic}.front`);
  });

  test('a worker switches to a rotated credential when the old one expires, without a restart', async () => {
    const file = join(stack.workDir, `${ns}-rotating.creds`);
    // The renewal is issued first, and the short credential lives 5 s: the connect must finish
    // before it expires, which 2 s did not always allow on a loaded machine (the connect then
    // failed with 'User Authentication Expired').
    const renewed = await n.issuer.issueWorker(n.clinicA, 'front', 600);
    const short = await n.issuer.issueWorker(n.clinicA, 'front', 5);
    await writeFile(file, short.creds, { mode: 0o600 });
    const handle = await connectNats(
      { servers: [n.url], credsFile: file, name: 'rotating', inboxPrefix: `_INBOX_${n.clinicA}_front` },
      pino({ level: 'silent' }),
    );
    const nc: NatsConnection = handle.nc;
    // Watched from the connect on, so a reconnect that comes early is not missed.
    const reconnected = (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') return true;
      return false;
    })();
    try {
      // The operator's renewal: a new credential written over the mounted file before expiry.
      await writeFile(file, renewed.creds, { mode: 0o600 });
      // nats-server ends the expired user's connection; the reconnect signs in with the new file.
      expect(await reconnected).toBe(true);
      const ack = await nc.jetstream().publish(channelSubjects(n.clinicA, 'front').status, new Uint8Array());
      expect(ack.seq).toBeGreaterThan(0);
      expect(nc.info?.client_id).toBeDefined();
    } finally {
      await nc.close();
    }
  });
});
