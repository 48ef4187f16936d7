/**
 * Clinic and channel ids. They name NATS subject tokens, S3 prefixes, KMS encryption
 * context and Kubernetes labels, so they must be valid in all four: a lowercase
 * DNS label (RFC 1123), which can never contain the NATS separators `.`, `*`, `>`
 * or white space. The CRD enforces the same pattern on the API server.
 */
export const TOKEN_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const TOKEN_MAX_LENGTH = 63;

export class InvalidTokenError extends Error {
  readonly code = 'InvalidToken';
  constructor(what: string, value: unknown) {
    super(
      `${what} ${JSON.stringify(value)} is not valid: use 1-${TOKEN_MAX_LENGTH} lowercase letters, digits ` +
        `or '-', starting and ending with a letter or digit`,
    );
    this.name = 'InvalidTokenError';
  }
}

export function isValidToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= TOKEN_MAX_LENGTH && TOKEN_PATTERN.test(value);
}

export function assertToken(what: string, value: unknown): string {
  if (!isValidToken(value)) throw new InvalidTokenError(what, value);
  return value;
}
