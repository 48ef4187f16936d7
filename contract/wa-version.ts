/**
 * The WhatsApp Web client version a worker announces when it logs in (Baileys' `version`
 * socket option, `[primary, secondary, tertiary]`), written `2.3000.1023223821`.
 *
 * WhatsApp retires old versions every few weeks and then refuses every client that announces
 * one (HTTP 405). The version is therefore a fleet setting (operator, chart, per channel in
 * `spec.worker.waWebVersion`), not something baked into the worker image; operator and worker
 * read it with this one function, so both accept and refuse exactly the same texts.
 */

/** Baileys' WAVersion. */
export type WaWebVersion = readonly [number, number, number];

/** Each part goes into a uint32 field of the login payload (ClientPayload.userAgent.appVersion). */
const MAX_PART = 2 ** 32 - 1;

/** Three positive integers separated by dots, without leading zeros (the CRD uses the same pattern). */
export const WA_WEB_VERSION_PATTERN = /^[1-9][0-9]{0,9}\.[1-9][0-9]{0,9}\.[1-9][0-9]{0,9}$/;

export type WaWebVersionResult = { ok: true; version: WaWebVersion } | { ok: false; error: string };

/** Parses `2.3000.1023223821`; the error says what is wrong and what a valid value looks like. */
export function parseWaWebVersion(text: string): WaWebVersionResult {
  const value = text.trim();
  const parts = value.split('.').map(Number);
  if (!WA_WEB_VERSION_PATTERN.test(value) || parts.some((p) => p > MAX_PART)) {
    return {
      ok: false,
      error: `"${text}" is not a WhatsApp Web version: expected three positive integers separated by dots (each at most ${MAX_PART}), such as 2.3000.1023223821`,
    };
  }
  return { ok: true, version: [parts[0]!, parts[1]!, parts[2]!] };
}

/** `[2, 3000, 1023223821]` → `2.3000.1023223821`. */
export function formatWaWebVersion(version: readonly number[]): string {
  return version.join('.');
}
