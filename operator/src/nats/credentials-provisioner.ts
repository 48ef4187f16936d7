/**
 * Puts the NATS credentials where the pods and clinic backends find them, without ever
 * reading a Secret (the operator's RBAC on Secrets is create + patch only):
 *
 * - per channel, the worker's credential in the Secret the worker pod mounts
 *   (`WA_WORKER_NATS_SECRET` with `{clinicId}`/`{channelId}`), owned by the channel, so it
 *   goes with it;
 * - per clinic and namespace, the clinic backend's credential in `wa-nats-clinic-<clinic>`;
 * - the clinic's account JWT, pushed to nats-server's resolver once per operator process.
 *
 * Each Secret is written whole with server-side apply. When each credential expires is kept
 * in memory only: after an operator restart every credential is issued once more (harmless:
 * the old one stays valid until its own expiry). A credential is renewed when a third of its
 * lifetime is left: `ensure` says when, and the reconciler comes back then.
 * Rotation needs no restart: the kubelet updates the mounted file, and the worker reads it
 * again at its next reconnect (nats-server disconnects it when the old JWT expires).
 */
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import {
  API_VERSION,
  ensureClinicStream,
  ensureIdempotencyBucket,
  KIND,
  openNatsConnection,
  type WhatsAppChannel,
} from '../../../contract/index.ts';
import type { AuditTrail } from '../../../contract/index.ts';
import type { OperatorConfig } from '../config.ts';
import { APPLY_PATCH, corePath } from '../kube/client.ts';
import type { KubeHttp } from '../kube/http.ts';
import { clinicRetentionDays } from '../clinic-stream-settings.ts';
import { perChannel } from '../pod.ts';
import type { IssuedCredential, NatsCredentialIssuer } from './credentials-issuer.ts';
import { loadIssuerDir } from './issuer-dir.ts';
import { pushAccountJwt } from './credentials-resolver.ts';

// The issuer folder's layout moved to its own module (the `wa nats bootstrap` command writes it too).
export { ISSUER_FILES, loadIssuerDir, writeIssuerDir } from './issuer-dir.ts';

export const CREDENTIAL_ANNOTATION_EXPIRES = 'whatsapp.clinic.dev/nats-credential-expires';
export const CREDENTIAL_ANNOTATION_USER = 'whatsapp.clinic.dev/nats-user';

/** The clinic backend's Secret in a namespace. */
export function clinicCredentialSecretName(clinicId: string): string {
  return `wa-nats-clinic-${clinicId}`;
}

/** Writes a whole Secret (server-side apply); never reads one. */
export interface SecretWriter {
  apply(secret: V1Secret): Promise<void>;
}

export function kubeSecretWriter(http: KubeHttp, fieldManager = 'whatsapp-operator'): SecretWriter {
  return {
    apply: async (secret) => {
      const { namespace, name } = secret.metadata!;
      await http.request('PATCH', corePath('secrets', namespace!, name!), {
        query: { fieldManager, force: true },
        contentType: APPLY_PATCH,
        body: { apiVersion: 'v1', kind: 'Secret', ...secret },
      });
    },
  };
}

export interface ProvisionerDeps {
  issuer: NatsCredentialIssuer;
  /** A system-account connection, for pushing clinic accounts. */
  system: () => Promise<NatsConnection>;
  /** The operator's own (platform) connection, which creates the clinic's stream; workers may not. */
  platform: () => NatsConnection | undefined;
  secrets: SecretWriter;
  /** `WA_WORKER_NATS_SECRET` template and key. */
  workerSecret: { name: string; key: string };
  ttlSeconds: number;
  /** Retention of the clinic's stream and the send log's window (clinic-stream-settings.ts). */
  clinicStreams: OperatorConfig['clinicStreams'];
  audit: AuditTrail;
  logger?: Logger;
  now?: () => Date;
}

export class CredentialProvisioner {
  private readonly d: ProvisionerDeps;
  private readonly pushed = new Set<string>();
  /**
   * When each credential written expires (ms), by Secret — and, for a worker's Secret, by the
   * channel's uid: a channel deleted and created again under its name gets a new Secret (the
   * old one went with the old channel), not "already issued".
   */
  private readonly expires = new Map<string, number>();

  constructor(deps: ProvisionerDeps) {
    this.d = deps;
  }

  /**
   * Makes sure the channel's worker and its clinic's backend have a credential that is not near
   * expiry, and returns in how many ms one of them is due for renewal (the reconciler comes back
   * then). The Secrets are written first: signing needs no NATS. Pushing the clinic's account
   * and creating its stream need NATS and throw while it is away.
   */
  async ensure(channel: WhatsAppChannel): Promise<number> {
    const { clinicId, channelId } = channel.spec;
    const ns = channel.metadata.namespace!;
    const workerSecret = perChannel(this.d.workerSecret.name, clinicId, channelId);
    const workerKey = this.workerKey(channel);
    if (this.dueInMs(workerKey) <= 0) {
      const issued = await this.d.issuer.issueWorker(clinicId, channelId, this.d.ttlSeconds, this.now());
      await this.write(workerKey, ns, workerSecret, this.d.workerSecret.key, issued, [
        {
          apiVersion: API_VERSION,
          kind: KIND,
          name: channel.metadata.name,
          uid: channel.metadata.uid!,
          controller: true,
        },
      ]);
      this.record(channel, 'worker', workerSecret, issued);
    }
    const clinicSecret = clinicCredentialSecretName(clinicId);
    const clinicKey = `${ns}/${clinicSecret}`;
    if (this.dueInMs(clinicKey) <= 0) {
      const issued = await this.d.issuer.issueClinicBackend(clinicId, this.d.ttlSeconds, this.now());
      await this.write(clinicKey, ns, clinicSecret, 'creds', issued, undefined);
      this.record(channel, 'clinic-backend', clinicSecret, issued);
    }
    if (!this.pushed.has(clinicId)) {
      await pushAccountJwt(await this.d.system(), (await this.d.issuer.clinicAccountJwt(clinicId)).jwt);
      await this.ensureStream(clinicId);
      this.pushed.add(clinicId);
    }
    return Math.min(this.dueInMs(workerKey), this.dueInMs(clinicKey));
  }

  /** A deleted channel's worker credential needs no renewal (its Secret went with it). */
  forget(channel: WhatsAppChannel): void {
    this.expires.delete(this.workerKey(channel));
  }

  private workerKey(channel: WhatsAppChannel): string {
    const { clinicId, channelId } = channel.spec;
    const secret = perChannel(this.d.workerSecret.name, clinicId, channelId);
    return `${channel.metadata.namespace}/${secret}@${channel.metadata.uid}`;
  }

  private async ensureStream(clinicId: string): Promise<void> {
    const nc = this.d.platform();
    if (!nc) throw new Error('NATS is not connected yet; the clinic stream cannot be created');
    const jsm = await nc.jetstreamManager();
    const retentionDays = clinicRetentionDays(this.d.clinicStreams, clinicId);
    const result = await ensureClinicStream(jsm, clinicId, retentionDays);
    const sendLog = await ensureIdempotencyBucket(jsm, clinicId, this.d.clinicStreams.idempotencyWindowHours);
    if (result.stream !== 'unchanged' || result.consumer !== 'unchanged' || sendLog !== 'unchanged')
      this.d.logger?.info(
        { clinicId, ...result, sendLog, retentionDays },
        'clinic stream, backend consumer and send log brought to these settings',
      );
  }

  private now(): Date {
    return this.d.now?.() ?? new Date();
  }

  /** Until renewal: a credential is renewed once less than a third of its lifetime is left. */
  private dueInMs(key: string): number {
    const expires = this.expires.get(key);
    if (expires === undefined) return 0;
    return expires - (this.d.ttlSeconds * 1000) / 3 - this.now().getTime();
  }

  private async write(
    expiryKey: string,
    ns: string,
    name: string,
    key: string,
    issued: IssuedCredential,
    ownerReferences: V1OwnerReference[] | undefined,
  ): Promise<void> {
    await this.d.secrets.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name,
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': 'whatsapp-operator' },
        // Public facts only: which user and until when (no seed, no JWT).
        annotations: {
          [CREDENTIAL_ANNOTATION_EXPIRES]: issued.expiresAt.toISOString(),
          [CREDENTIAL_ANNOTATION_USER]: issued.user,
        },
        ...(ownerReferences ? { ownerReferences } : {}),
      },
      stringData: { [key]: issued.creds },
    });
    this.expires.set(expiryKey, issued.expiresAt.getTime());
  }

  private record(channel: WhatsAppChannel, kind: string, secret: string, issued: IssuedCredential): void {
    this.d.audit.record({
      clinicId: channel.spec.clinicId,
      channelId: channel.spec.channelId,
      action: 'credential.issued',
      outcome: 'ok',
      details: {
        kind,
        secret: `${channel.metadata.namespace}/${secret}`,
        user: issued.user,
        account: issued.account,
        expiresAt: issued.expiresAt.toISOString(),
      },
    });
  }
}

/** A lazily opened system-account connection (closed by the caller through `close`). */
export function systemConnection(
  url: string,
  creds: string,
): { get(): Promise<NatsConnection>; close(): Promise<void> } {
  let nc: Promise<NatsConnection> | undefined;
  return {
    get: () =>
      (nc ??= openNatsConnection({
        url,
        name: 'whatsapp-operator-accounts',
        creds: new TextEncoder().encode(creds),
        reconnect: 'forever',
      }).catch((err: unknown) => {
        nc = undefined;
        throw err;
      })),
    close: async () => {
      const c = await nc?.catch(() => undefined);
      await c?.close();
    },
  };
}

/** The provisioner for the operator's configuration (`WA_NATS_ISSUER_DIR` set). */
export async function startCredentialIssuing(
  http: KubeHttp,
  config: OperatorConfig,
  audit: AuditTrail,
  platform: () => NatsConnection | undefined,
  logger: Logger,
): Promise<{ provisioner: CredentialProvisioner; close(): Promise<void> }> {
  if (!config.natsIssuer || !config.worker.natsSecret)
    throw new Error('NATS credential issuing is not configured');
  const { issuer, systemCreds } = await loadIssuerDir(config.natsIssuer.dir);
  const system = systemConnection(config.natsUrl, systemCreds);
  const provisioner = new CredentialProvisioner({
    issuer,
    system: system.get,
    platform,
    secrets: kubeSecretWriter(http),
    workerSecret: config.worker.natsSecret,
    ttlSeconds: config.natsIssuer.ttlSeconds,
    clinicStreams: config.clinicStreams,
    audit,
    logger,
  });
  return { provisioner, close: system.close };
}
