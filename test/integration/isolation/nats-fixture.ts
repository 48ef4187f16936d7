/**
 * A nats-server of its own in operator mode (decentralised JWT auth), with the trust chain
 * made by the operator's own code (bootstrapNatsTrust), two clinics' accounts pushed to the
 * resolver the way the operator pushes them, and their streams and send-log buckets. Each isolation test file
 * starts one; the shared stack's nats-server (no auth) stays as it is.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { bootstrapNatsTrust, type NatsTrust } from '../../../operator/src/nats/credentials-bootstrap.ts';
import { NatsCredentialIssuer } from '../../../operator/src/nats/credentials-issuer.ts';
import { pushAccountJwt } from '../../../operator/src/nats/credentials-resolver.ts';
import { ensureClinicStream } from '../../../contract/clinic-stream.ts';
import { ensureIdempotencyBucket } from '../../../contract/idempotency-bucket.ts';
import { AUDIT_STREAM, ensureAuditStream } from '../../../contract/audit-stream.ts';
import { validatePayload, type AuditEvent } from '../../../contract/index.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { startNatsOperatorMode } from '../../harness/servers/nats.ts';
import { testStack } from '../../harness/stack.ts';

export interface TrustedNats {
  url: string;
  trust: NatsTrust;
  issuer: NatsCredentialIssuer;
  /** Two clinics with unique ids, their accounts pushed and their streams created. */
  clinicA: string;
  clinicB: string;
  /** The platform's own (unrestricted) user: creates streams, plays the operator. */
  platform: NatsConnection;
  connectAs(creds: string, opts?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export async function startTrustedNats(): Promise<TrustedNats> {
  const trust = await bootstrapNatsTrust();
  const workDir = await mkdtemp(join(tmpdir(), 'wa-isolation-'));
  const server: { process: ManagedProcess; info: { url: string } } = await startNatsOperatorMode(
    testStack().bins.natsServer,
    workDir,
    {
      operatorJwt: trust.operatorJwt,
      systemAccount: trust.systemAccount.publicKey,
      preload: {
        [trust.systemAccount.publicKey]: trust.systemAccount.jwt,
        [trust.platformAccount.publicKey]: trust.platformAccount.jwt,
      },
    },
  );
  const url = server.info.url;
  const open: NatsConnection[] = [];
  const stop = async () => {
    for (const nc of open) await nc.close().catch(() => undefined);
    await server.process.stop();
  };
  // A set-up that fails half way (a connect timing out on a loaded machine) stops its server:
  // the test file's afterAll never sees it.
  try {
    const connectAs = async (creds: string, opts: Partial<ConnectionOptions> = {}) => {
      const nc = await connect({
        servers: url,
        authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
        maxReconnectAttempts: 0,
        ...opts,
      });
      open.push(nc);
      return nc;
    };
    const issuer = new NatsCredentialIssuer(trust.issuerKeys);
    const suffix = randomUUID().slice(0, 6);
    const clinicA = `iso-a-${suffix}`;
    const clinicB = `iso-b-${suffix}`;
    const system = await connectAs(trust.systemCreds);
    for (const clinic of [clinicA, clinicB]) {
      await pushAccountJwt(system, (await issuer.clinicAccountJwt(clinic)).jwt);
    }
    const platform = await connectAs(trust.platformCreds);
    const jsm = await platform.jetstreamManager();
    // As the operator does it (contract/clinic-stream.ts): the stream and the backends' consumer.
    for (const clinic of [clinicA, clinicB]) {
      await ensureClinicStream(jsm, clinic);
      await ensureIdempotencyBucket(jsm, clinic);
    }
    await ensureAuditStream(jsm); // as the operator does at start
    return {
      url,
      trust,
      issuer,
      clinicA,
      clinicB,
      platform,
      connectAs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Subscribes and waits for nats-server's verdict: resolves with the permission error the
 * server sent for this subscription, or with undefined once a flush proved it was accepted.
 */
export async function subscriptionVerdict(nc: NatsConnection, subject: string): Promise<string | undefined> {
  let refused: string | undefined;
  const sub = nc.subscribe(subject, {
    callback: (err) => {
      if (err) refused = String(err);
    },
  });
  await nc.flush();
  // The -ERR for a refused SUB arrives before the PONG that ends the flush.
  await nc.flush();
  if (!refused) sub.unsubscribe();
  return refused;
}

/**
 * Publishes and waits for nats-server's verdict: the permission error it sent for this
 * subject, or undefined once a flush proved the publish was accepted.
 */
export async function publishVerdict(
  nc: NatsConnection,
  subject: string,
  data = new Uint8Array(),
  reply?: string,
): Promise<string | undefined> {
  const errors: string[] = [];
  const status = nc.status();
  void (async () => {
    for await (const s of status) if (s.type === 'error') errors.push(String(s.data));
  })();
  nc.publish(subject, data, reply ? { reply } : {});
  await nc.flush();
  await nc.flush();
  // Ends this call's loop; left running, every call kept one waiting for the connection's life.
  (status as unknown as { stop(): void }).stop();
  // nats.js reports only the code (PERMISSIONS_VIOLATION); this publish is the only one in flight.
  return errors.length ? errors.join('; ') : undefined;
}

/**
 * Every audit event the platform's audit stream holds for a clinic, read message by message
 * with the platform's credentials: what a platform engineer reads back, whoever was listening.
 */
export async function storedAuditEvents(platform: NatsConnection, clinic: string): Promise<AuditEvent[]> {
  const jsm = await platform.jetstreamManager();
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(AUDIT_STREAM)).state;
  const events: AuditEvent[] = [];
  for (let seq = first; seq <= last && last > 0; seq++) {
    const m = await jsm.streams.getMessage(AUDIT_STREAM, { seq });
    if (!m.subject.startsWith(`wa-audit.${clinic}.`)) continue;
    const checked = validatePayload('audit', m.json());
    if (!checked.ok) throw new Error(`an invalid audit event is stored: ${m.string()}`);
    events.push(checked.value);
  }
  return events;
}
