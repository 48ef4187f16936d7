/**
 * Which WhatsApp Web version this worker announces, and what its status says when WhatsApp
 * refuses it (405, `ClientVersionRejected`). The reconnect policy stops on 405 without touching
 * the state, so the worker does not try again with the same version; the message tells a person
 * which version was refused and which setting to change (docs/operations.md, "WhatsApp refused
 * the client version").
 */
import { DEFAULT_CONNECTION_CONFIG } from '@whiskeysockets/baileys';
import { formatWaWebVersion, type WaWebVersion } from '../../contract/index.ts';
import type { StatusReport } from './session/ports.ts';
import { REASONS } from './session/reconnect-policy.ts';

export interface AnnouncedVersion {
  /** `2.3000.1023223821`. */
  text: string;
  /** Whether it came from WA_WEB_VERSION (else it is Baileys' built-in version). */
  configured: boolean;
}

/** WA_WEB_VERSION when set, else the version compiled into the Baileys release. */
export function announcedVersion(configured: WaWebVersion | undefined): AnnouncedVersion {
  return configured
    ? { text: formatWaWebVersion(configured), configured: true }
    : { text: formatWaWebVersion(DEFAULT_CONNECTION_CONFIG.version), configured: false };
}

export function versionRejectedMessage(version: AnnouncedVersion): string {
  const origin = version.configured
    ? 'set by the operator or the channel (WA_WEB_VERSION)'
    : 'the version built into this worker image';
  return (
    `WhatsApp refused the client version ${version.text} (${origin}) with 405: the worker does not retry ` +
    'with it. Set a current WhatsApp Web version in the operator setting worker.waWebVersion ' +
    '(WA_WORKER_WA_WEB_VERSION) or in spec.worker.waWebVersion of this channel; the worker pod is then ' +
    'replaced and logs in again with its stored link, without a new QR code.'
  );
}

/** Adds the advice to a ClientVersionRejected report; every other report passes unchanged. */
export function withVersionAdvice(report: StatusReport, version: AnnouncedVersion): StatusReport {
  if (report.reason !== REASONS.clientVersionRejected || report.message) return report;
  return { ...report, message: versionRejectedMessage(version) };
}
