/**
 * Which WhatsApp Web client versions the simulated server lets in. The real server refuses a
 * retired version at login (and at registration) with `<failure reason="405">`, which Baileys 7
 * turns into `DisconnectReason` 405 (its `CB:failure` handler uses the reason as the status code).
 *
 * The version is read where WhatsApp reads it: the login payload's
 * `ClientPayload.userAgent.appVersion` (primary.secondary.tertiary), i.e. Baileys' `version`.
 */
import type { proto } from '@whiskeysockets/baileys';

/** `<failure reason=…>` code of an outdated client; Baileys' DisconnectReason 405. */
export const CLIENT_OUTDATED = 405;

export interface ClientVersionPolicy {
  /** When set, only these versions get in ("2.3000.1023223821"). */
  accepted?: string[];
  /** These versions are refused (checked as well as `accepted`). */
  refused?: string[];
}

/** The version a client announced, "primary.secondary.tertiary"; "unknown" without a user agent. */
export function announcedVersion(payload: proto.IClientPayload): string {
  const v = payload.userAgent?.appVersion;
  if (!v) return 'unknown';
  return [v.primary ?? 0, v.secondary ?? 0, v.tertiary ?? 0].join('.');
}

export class ClientVersions {
  #policy: ClientVersionPolicy = {};

  constructor(policy: ClientVersionPolicy = {}) {
    this.set(policy);
  }

  /** Replaces the policy; `{}` lets every version in again. */
  set(policy: ClientVersionPolicy): void {
    this.#policy = {
      ...(policy.accepted ? { accepted: [...policy.accepted] } : {}),
      ...(policy.refused ? { refused: [...policy.refused] } : {}),
    };
  }

  get(): ClientVersionPolicy {
    return {
      ...(this.#policy.accepted ? { accepted: [...this.#policy.accepted] } : {}),
      ...(this.#policy.refused ? { refused: [...this.#policy.refused] } : {}),
    };
  }

  refuses(version: string): boolean {
    const { accepted, refused } = this.#policy;
    return (refused?.includes(version) ?? false) || (accepted !== undefined && !accepted.includes(version));
  }
}
