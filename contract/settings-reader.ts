/**
 * How the operator and the worker read their settings (environment variables, or flags that
 * override them): the same checks and the same messages in both, and every problem collected,
 * so a wrong install fails with one message that lists them all instead of one per restart.
 */

/** Where settings come from, and how messages name them. */
export interface SettingsSource<K extends string> {
  /** The raw value of a setting, or undefined. */
  value(key: K): string | undefined;
  /** How a message names where a value came from: "--nats-url" or "NATS_URL". */
  source(key: K): string;
  /** How a message names a missing setting: "NATS_URL (or --nats-url)". */
  missing(key: K): string;
}

/** Settings that are environment variables only, named by their variable. */
export function environment(env: Readonly<Record<string, string | undefined>>): SettingsSource<string> {
  return { value: (name) => env[name], source: (name) => name, missing: (name) => name };
}

/**
 * Each reader returns a usable value (the fallback when the setting is wrong) and records the
 * problem in `errors`, so that parsing goes on and reports everything at once. The readers are
 * properties, so they can be taken out of the object: `const { text, required } = settings`.
 */
export class SettingsReader<K extends string> {
  readonly errors: string[] = [];
  private readonly from: SettingsSource<K>;

  constructor(from: SettingsSource<K>) {
    this.from = from;
  }

  /** Records a problem found by the caller's own check. */
  readonly problem = (message: string): void => {
    this.errors.push(message);
  };

  /** The trimmed value; unset and blank are both undefined. */
  readonly text = (key: K): string | undefined => {
    const value = this.from.value(key)?.trim();
    return value ? value : undefined;
  };

  readonly required = (key: K, what: string): string => {
    const value = this.text(key);
    if (value === undefined) this.problem(`${this.from.missing(key)} is required (${what})`);
    return value ?? '';
  };

  /** The value if it matches `pattern` (else reported, with `example` of what would); unset gives `fallback`. */
  readonly matching = (key: K, pattern: RegExp, example: string, fallback?: string): string | undefined => {
    const value = this.text(key);
    if (value !== undefined && !pattern.test(value)) this.invalid(key, value, `is not valid: ${example}`);
    return value ?? fallback;
  };

  readonly oneOf = <T extends string>(key: K, allowed: readonly T[], fallback: T): T => {
    const value = this.text(key);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.invalid(key, value, `must be one of ${allowed.join(', ')}`);
    return fallback;
  };

  readonly integer = (key: K, fallback: number, min: number, max: number): number => {
    const value = this.text(key);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    this.invalid(key, value, `must be an integer from ${min} to ${max}`);
    return fallback;
  };

  /** A whole number of seconds, in milliseconds. */
  readonly seconds = (key: K, fallbackSeconds: number, min: number, max: number): number =>
    this.integer(key, fallbackSeconds, min, max) * 1000;

  readonly bool = (key: K, fallback: boolean): boolean => {
    const value = this.text(key);
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    this.invalid(key, value, 'must be true or false');
    return fallback;
  };

  /** A URL with one of `protocols` ('https:'…); `value` checks one element of a list setting. */
  readonly url = (key: K, protocols: readonly string[], value = this.text(key)): string | undefined => {
    if (value === undefined) return undefined;
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      // not a URL: reported below
    }
    if (protocol === undefined || !protocols.includes(protocol))
      this.invalid(key, value, `must be a URL starting with ${protocols.join(' or ')}`);
    return value;
  };

  readonly absolutePath = (key: K): string | undefined => {
    const value = this.text(key);
    if (value !== undefined && !value.startsWith('/')) this.invalid(key, value, 'must be an absolute path');
    return value;
  };

  /** A JSON object of strings whose every entry passes `valid`; otherwise `expectation` is reported. */
  readonly stringMap = (
    key: K,
    valid: (name: string, value: string) => boolean,
    expectation: string,
  ): Record<string, string> => {
    const raw = this.text(key);
    if (raw === undefined) return {};
    try {
      const value: unknown = JSON.parse(raw);
      if (
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.entries(value).every(([k, v]) => typeof v === 'string' && valid(k, v))
      )
        return value as Record<string, string>;
    } catch {
      // reported below
    }
    this.problem(`${this.from.source(key)} must be ${expectation}`);
    return {};
  };

  private invalid(key: K, value: string, why: string): void {
    this.problem(`${this.from.source(key)}="${value}" ${why}`);
  }
}
