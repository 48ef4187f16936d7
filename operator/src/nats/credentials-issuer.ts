/**
 * Signs the NATS JWTs of clinic accounts, clinic backend users and worker users
 * (decentralised auth: nats-server verifies them against the operator JWT it trusts, and
 * needs no configuration change per clinic or channel).
 *
 * The operator holds three secrets (files mounted from a Secret, never logged):
 * - a signing key of the NATS operator, to sign clinic accounts;
 * - a signing key of the platform account, to sign worker users and the activation tokens
 *   that let a clinic account import its own subjects;
 * - a random master seed, from which each clinic account's key pair is derived
 *   (HMAC-SHA256(master, clinic id)), so the same clinic always gets the same account
 *   without the operator storing (or reading back) one key per clinic.
 */
import { createHmac } from 'node:crypto';
import {
  encodeAccount,
  encodeActivation,
  encodeUser,
  fmtCreds,
  type Import,
  type KeyPair,
} from '@nats-io/jwt';
import { Prefix, createUser, fromSeed } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { assertToken } from '../../../contract/index.ts';
import {
  CLINIC_ACCOUNT_LIMITS,
  clinicBackendPermissions,
  clinicImports,
  workerPermissions,
  type UserPermissions,
} from './credentials.ts';

export interface IssuerKeys {
  /** Seed (`SO…`) of a signing key listed in the NATS operator JWT. */
  operatorSigningSeed: string;
  /** Public key (`A…`) of the platform account. */
  platformAccount: string;
  /** Seed (`SA…`) of a signing key listed in the platform account JWT. */
  platformSigningSeed: string;
  /** At least 32 random bytes; clinic account keys are derived from it. */
  clinicMasterSeed: Uint8Array;
}

/** A credential ready to mount: the `.creds` file text and when it stops working. */
export interface IssuedCredential {
  /** The `.creds` file (JWT + user seed). Secret material: goes into a Secret, nowhere else. */
  creds: string;
  /** The user's public key (safe to log: it identifies, it does not authenticate). */
  user: string;
  /** The account the user belongs to. */
  account: string;
  expiresAt: Date;
}

export class NatsCredentialIssuer {
  private readonly operatorSigner: KeyPair;
  private readonly platformSigner: KeyPair;
  readonly platformAccount: string;
  private readonly master: Uint8Array;

  constructor(keys: IssuerKeys) {
    if (keys.clinicMasterSeed.length < 32) throw new Error('the clinic master seed needs at least 32 bytes');
    this.operatorSigner = fromSeed(new TextEncoder().encode(keys.operatorSigningSeed.trim()));
    this.platformSigner = fromSeed(new TextEncoder().encode(keys.platformSigningSeed.trim()));
    if (!keys.platformAccount.startsWith('A'))
      throw new Error('platformAccount must be an account public key');
    this.platformAccount = keys.platformAccount;
    this.master = keys.clinicMasterSeed;
  }

  /** The clinic's account key pair: always the same for the same clinic and master seed. */
  clinicAccountKey(clinicId: string): KeyPair {
    const raw = createHmac('sha256', this.master)
      .update(`nats-clinic-account:${assertToken('clinicId', clinicId)}`)
      .digest();
    return fromSeed(Codec.encodeSeed(Prefix.Account, new Uint8Array(raw)));
  }

  /**
   * The clinic's account JWT, with one import per clinic-facing export, each carrying an
   * activation token for exactly this clinic's subjects. Push it to the resolver before
   * issuing users of it.
   */
  async clinicAccountJwt(clinicId: string): Promise<{ account: string; jwt: string }> {
    const key = this.clinicAccountKey(clinicId);
    const account = key.getPublicKey();
    const imports: Import[] = [];
    for (const imp of clinicImports(clinicId)) {
      const token = await encodeActivation(
        `${clinicId} ${imp.name}`,
        account,
        this.platformSigner,
        imp.type,
        { subject: imp.subject, kind: imp.type, issuer_account: this.platformAccount },
      );
      imports.push({
        name: imp.name,
        type: imp.type,
        subject: imp.subject,
        account: this.platformAccount,
        token,
        ...(imp.localSubject ? { local_subject: imp.localSubject } : {}),
        // Commands carry the requesting clinic account and user (Nats-Request-Info) for the audit trail.
        ...(imp.share ? { share: true } : {}),
      });
    }
    const jwt = await encodeAccount(
      `CLINIC ${clinicId}`,
      key,
      { imports, limits: CLINIC_ACCOUNT_LIMITS },
      { signer: this.operatorSigner },
    );
    return { account, jwt };
  }

  /** A clinic backend's credential, in the clinic's account. */
  async issueClinicBackend(
    clinicId: string,
    ttlSeconds: number,
    now = new Date(),
  ): Promise<IssuedCredential> {
    const key = this.clinicAccountKey(clinicId);
    return this.issue(
      `clinic ${clinicId} backend`,
      key,
      undefined,
      clinicBackendPermissions(clinicId),
      ttlSeconds,
      now,
    );
  }

  /** One channel's worker credential, in the platform account. */
  async issueWorker(
    clinicId: string,
    channelId: string,
    ttlSeconds: number,
    now = new Date(),
  ): Promise<IssuedCredential> {
    return this.issue(
      `worker ${clinicId}/${channelId}`,
      this.platformSigner,
      this.platformAccount,
      workerPermissions(clinicId, channelId),
      ttlSeconds,
      now,
    );
  }

  private async issue(
    name: string,
    signer: KeyPair,
    issuerAccount: string | undefined,
    permissions: UserPermissions,
    ttlSeconds: number,
    now: Date,
  ): Promise<IssuedCredential> {
    if (!(ttlSeconds > 0)) throw new Error('a credential needs a positive lifetime');
    const user = createUser();
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + Math.ceil(ttlSeconds);
    const jwt = await encodeUser(
      name,
      user,
      signer,
      {
        ...permissions,
        subs: -1,
        data: -1,
        payload: -1,
        // A stolen JWT alone is useless: the holder must also sign the server's nonce.
        bearer_token: false,
        ...(issuerAccount ? { issuer_account: issuerAccount } : {}),
      },
      { exp },
    );
    const account = issuerAccount ?? signer.getPublicKey();
    return {
      creds: new TextDecoder().decode(fmtCreds(jwt, user)),
      user: user.getPublicKey(),
      account,
      expiresAt: new Date(exp * 1000),
    };
  }
}
