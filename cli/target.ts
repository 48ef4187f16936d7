import { isValidToken } from '../contract/index.ts';
import { CliError } from './connection.ts';

/** `<clinic>/<channel>` (or `<clinic>` where the channel is optional). */
export function parseTarget(
  text: string,
  channelRequired: boolean,
): { clinicId: string; channelId?: string } {
  const [clinicId, channelId, ...rest] = text.split('/');
  const usage = channelRequired ? '<clinic>/<channel>' : '<clinic>[/<channel>]';
  if (rest.length > 0 || !isValidToken(clinicId) || (channelId !== undefined && !isValidToken(channelId))) {
    throw new CliError(`"${text}" is not ${usage}: ids are lowercase letters, digits and '-'`, 2);
  }
  if (channelRequired && channelId === undefined) throw new CliError(`expected ${usage}, got "${text}"`, 2);
  return channelId === undefined ? { clinicId } : { clinicId, channelId };
}
