/**
 * The credentials step: the channel's NATS credentials are issued before the worker that
 * mounts them starts, and renewed before they expire (nats/credentials-provisioner.ts).
 * A failure (NATS away, a Secret write refused) never stops worker management: it is logged
 * and tried again soon.
 */
import type { Logger } from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import type { CredentialProvisioner } from '../nats/credentials-provisioner.ts';

const CREDENTIALS_RETRY_MS = 5_000;

export type Credentials = Pick<CredentialProvisioner, 'ensure' | 'forget'>;

export class CredentialsStep {
  private readonly credentials: Credentials | undefined;
  private readonly logger: Logger;

  /** Without `credentials` (no WA_NATS_ISSUER_DIR, local mode) the credentials come from elsewhere. */
  constructor(credentials: Credentials | undefined, logger: Logger) {
    this.credentials = credentials;
    this.logger = logger;
  }

  /** Issues or renews what is due; ms until the next renewal (undefined: nothing to come back for). */
  async ensure(channel: WhatsAppChannel): Promise<number | undefined> {
    if (!this.credentials || channel.spec.suspend) return undefined;
    try {
      return Math.max(1_000, await this.credentials.ensure(channel));
    } catch (err) {
      this.logger.warn(
        { channel: `${channel.metadata.namespace}/${channel.metadata.name}`, err: String(err) },
        'cannot issue the NATS credentials yet; trying again',
      );
      return CREDENTIALS_RETRY_MS;
    }
  }

  forget(channel: WhatsAppChannel): void {
    this.credentials?.forget(channel);
  }
}
