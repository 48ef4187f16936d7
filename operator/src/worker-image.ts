/**
 * Which images may run with a clinic's identity (docs/security.md K4). A worker pod gets the
 * clinic's NATS credentials, its state prefix and its KMS key, so whoever chooses its image
 * chooses what code holds them. `spec.worker.image` is only accepted from the repositories the
 * platform allows (WA_WORKER_ALLOWED_REPOSITORIES; default: the repository of WA_WORKER_IMAGE),
 * with any tag or digest. The chart's ValidatingAdmissionPolicy applies the same rule at
 * admission (charts/whatsapp-operator/templates/admission-policy.yaml).
 *
 * Repositories are compared as written, without Docker's normalisation (`nginx` is not
 * `docker.io/library/nginx`): an allow-list is the platform's exact words, never a guess.
 */
import type { WhatsAppChannel } from '../../contract/index.ts';

/**
 * A repository: `[host[:port]/]path`, lower-case path components (the distribution spec's
 * grammar, simplified). No tag, no digest, no wildcard.
 */
export const REPOSITORY =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * What may follow an allowed repository: an optional tag, then an optional digest. Anchored
 * strictly, so that `wa-worker:5000/evil` (a registry host named like the repository) is never
 * read as a tag of `wa-worker`. The admission policy uses the same two patterns.
 */
export const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
export const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const TAG_AND_DIGEST = new RegExp(`^(?::${TAG})?(?:@${DIGEST})?$`);

export const IMAGE_NOT_ALLOWED = 'ImageNotAllowed';

/** The repository of an image reference: without its digest and its tag. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon === -1 ? withoutDigest : withoutDigest.slice(0, colon);
}

/** Whether `image` is one of `repositories`, with any tag and/or digest (or neither). */
export function imageAllowed(image: string, repositories: readonly string[]): boolean {
  return repositories.some(
    (repository) => image.startsWith(repository) && TAG_AND_DIGEST.test(image.slice(repository.length)),
  );
}

/** Why a channel may not have a worker with the image it asks for; undefined = it may. */
export function imageRefusal(
  channel: WhatsAppChannel,
  repositories: readonly string[],
): { reason: string; message: string } | undefined {
  const image = channel.spec.worker?.image;
  if (image === undefined || imageAllowed(image, repositories)) return undefined;
  return {
    reason: IMAGE_NOT_ALLOWED,
    message:
      `spec.worker.image "${image}" is not from a repository this operator allows ` +
      `(${repositories.join(', ')}): no worker runs with the clinic's identity. Remove ` +
      `spec.worker.image, or use one of those repositories (a platform engineer sets ` +
      `WA_WORKER_ALLOWED_REPOSITORIES, chart value worker.allowedRepositories)`,
  };
}
