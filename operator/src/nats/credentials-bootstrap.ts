/**
 * Creates the NATS trust chain once, at installation (or for a test server): the NATS
 * operator, the system account and the platform account, with the signing keys the
 * operator process needs (IssuerKeys). In production, run it once and keep the seeds in
 * Secrets (docs/security.md, "Setting up NATS"); nats-server gets the operator JWT, the
 * system account and a resolver preloaded with both account JWTs.
 */
import { randomBytes } from 'node:crypto';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { PLATFORM_ACCOUNT_LIMITS, UNLIMITED_CORE_NATS, platformAccountExports } from './credentials.ts';
import type { IssuerKeys } from './credentials-issuer.ts';

export interface NatsTrust {
  operatorJwt: string;
  systemAccount: { publicKey: string; jwt: string };
  platformAccount: { publicKey: string; jwt: string };
  /** The keys the operator process holds. */
  issuerKeys: IssuerKeys;
  /** An unrestricted user of the platform account (the operator's own NATS identity, tools). */
  platformCreds: string;
  /** A user of the system account: pushes clinic account JWTs to the resolver. */
  systemCreds: string;
}

export async function bootstrapNatsTrust(name = 'whatsapp-platform'): Promise<NatsTrust> {
  const operator = createOperator();
  const operatorSigner = createOperator();
  const system = createAccount();
  const platform = createAccount();
  const platformSigner = createAccount();
  const operatorJwt = await encodeOperator(name, operator, {
    system_account: system.getPublicKey(),
    signing_keys: [operatorSigner.getPublicKey()],
  });
  const systemJwt = await encodeAccount(
    'SYS',
    system,
    {
      limits: UNLIMITED_CORE_NATS,
    },
    { signer: operatorSigner },
  );
  const platformJwt = await encodeAccount(
    'PLATFORM',
    platform,
    {
      signing_keys: [platformSigner.getPublicKey()],
      exports: platformAccountExports(),
      limits: PLATFORM_ACCOUNT_LIMITS,
    },
    { signer: operatorSigner },
  );
  const userCreds = async (userName: string, issuer: typeof platform, account?: string) => {
    const user = createUser();
    const jwt = await encodeUser(userName, user, issuer, {
      subs: -1,
      data: -1,
      payload: -1,
      ...(account ? { issuer_account: account } : {}),
    });
    return new TextDecoder().decode(fmtCreds(jwt, user));
  };
  const seed = (kp: { getSeed(): Uint8Array }) => new TextDecoder().decode(kp.getSeed());
  return {
    operatorJwt,
    systemAccount: { publicKey: system.getPublicKey(), jwt: systemJwt },
    platformAccount: { publicKey: platform.getPublicKey(), jwt: platformJwt },
    issuerKeys: {
      operatorSigningSeed: seed(operatorSigner),
      platformAccount: platform.getPublicKey(),
      platformSigningSeed: seed(platformSigner),
      clinicMasterSeed: new Uint8Array(randomBytes(32)),
    },
    platformCreds: await userCreds('platform', platformSigner, platform.getPublicKey()),
    systemCreds: await userCreds('system', system),
  };
}
