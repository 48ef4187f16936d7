/**
 * `wa qr <clinic>/<channel>`: waits for the channel's next QR code and draws it in the
 * terminal (or prints the pairing code). With --request it first asks the worker to
 * start pairing.
 */
import type { NatsConnection } from 'nats';
import qrcode from 'qrcode-terminal';
import {
  channelSubjects,
  classifyNatsError,
  validatePayload,
  type PairingEvent,
} from '../../contract/index.ts';
import { CliError } from '../connection.ts';

export async function nextPairingEvent(
  nc: NatsConnection,
  target: { clinicId: string; channelId: string },
  timeoutMs: number,
): Promise<PairingEvent> {
  const sub = nc.subscribe(channelSubjects(target.clinicId, target.channelId).qr, { timeout: timeoutMs });
  try {
    for await (const m of sub) {
      const checked = validatePayload('qr', m.json());
      if (checked.ok) return checked.value;
    }
  } catch (err) {
    if (classifyNatsError(err) === 'timeout') {
      throw new CliError(
        `no QR code from ${target.clinicId}/${target.channelId} within ${timeoutMs / 1000} s ` +
          `(is it already linked? see \`wa status ${target.clinicId}\`; \`wa qr --request\` starts pairing)`,
      );
    }
    throw err;
  } finally {
    sub.unsubscribe();
  }
  throw new CliError('the subscription ended before a QR code arrived');
}

export function renderQr(text: string): Promise<string> {
  return new Promise((resolve) => qrcode.generate(text, { small: true }, resolve));
}
