/**
 * The media verbs and a send's attachment: what each command becomes, and that every refusal
 * names the field at fault.
 */
import { MAX_MEDIA_COMMAND_BYTES } from '../../../contract/index.ts';
import { parseCommand, sendFingerprint, type Command } from '../../../worker/src/commands/parse.ts';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const MAX = 64 * 1024;

function parsed(verb: string, body: unknown, max = MAX): Command {
  const r = parseCommand(verb, enc(body), max);
  if (!r.ok) throw new Error(`refused: ${r.error.message}`);
  return r.command;
}

function refusal(verb: string, body: unknown, max = MAX): { code: string; message: string } {
  const r = parseCommand(verb, enc(body), max);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.command)}`);
  return r.error;
}

describe('send with media', () => {
  test('bytes in the command become a buffer; the caption rides in media', () => {
    const command = parsed('send', {
      idempotencyKey: 'k',
      to: '+5511999990000',
      media: { kind: 'image', data: Buffer.from('jpeg bytes').toString('base64'), caption: 'look' },
    });
    expect(command).toMatchObject({
      verb: 'send',
      jid: '5511999990000@s.whatsapp.net',
      text: '',
      media: { kind: 'image', caption: 'look' },
    });
    expect((command as { media: { data: Buffer } }).media.data.toString()).toBe('jpeg bytes');
  });

  test('a stored file is named by its ref', () => {
    expect(
      parsed('send', {
        idempotencyKey: 'k',
        to: '+5511999990000',
        media: { kind: 'document', stored: 'up:a1' },
      }),
    ).toMatchObject({ media: { kind: 'document', stored: 'up:a1' } });
  });

  test.each([
    [{ media: undefined }, '/text: required unless media is given'],
    [{ text: 'hi', media: { kind: 'image', stored: 'in:X' } }, '/text: not allowed with media'],
    [{ media: { kind: 'image' } }, '/media: needs exactly one of data and stored'],
    [
      { media: { kind: 'image', stored: 'in:X', data: 'AAAA' } },
      '/media: needs exactly one of data and stored',
    ],
    [{ media: { kind: 'image', data: 'not base64!' } }, '/media/data: not valid base64'],
    [{ media: { kind: 'image', data: 'AAAA', ptt: true } }, '/media/ptt: only for kind audio'],
    [{ media: { kind: 'gif', data: 'AAAA' } }, '/media/kind'],
    [{ media: { kind: 'image', stored: '../etc' } }, '/media/stored'],
  ])('%j is refused naming the field', (extra, message) => {
    const error = refusal('send', { idempotencyKey: 'k', to: '+5511999990000', ...extra });
    expect(error.code).toBe('InvalidCommand');
    expect(error.message).toContain(message);
  });

  test('a retry must carry the same bytes: the fingerprint covers their hash', () => {
    const send = (data: string) =>
      parsed('send', {
        idempotencyKey: 'k',
        to: '+5511999990000',
        media: { kind: 'audio', ptt: true, data },
      });
    const a = sendFingerprint(send('AAAA') as never);
    expect(sendFingerprint(send('AAAA') as never)).toBe(a);
    expect(sendFingerprint(send('AAAB') as never)).not.toBe(a);
    expect(a).not.toContain('AAAA');
  });
});

describe('media verbs', () => {
  test('media-get defaults to the start and 512 KiB', () => {
    expect(parsed('media-get', { media: 'in:3A0011' })).toEqual({
      verb: 'media-get',
      ref: 'in:3A0011',
      offset: 0,
      length: 512 * 1024,
    });
    expect(refusal('media-get', { media: 'in:3A', length: 600_000 }).message).toContain('/length');
    expect(refusal('media-get', { media: 'x:3A' }).message).toContain('/media');
  });

  test('media-fetch takes a message id', () => {
    expect(parsed('media-fetch', { messageId: '3A0011' })).toEqual({
      verb: 'media-fetch',
      messageId: '3A0011',
    });
    expect(refusal('media-fetch', {}).message).toContain('/messageId');
  });

  test('media-upload pieces: bytes decoded, mimetype only with the last one', () => {
    const data = Buffer.alloc(100, 7).toString('base64');
    expect(parsed('media-upload', { uploadId: 'u1', part: 0, data })).toMatchObject({
      verb: 'media-upload',
      uploadId: 'u1',
      part: 0,
      last: false,
    });
    expect(refusal('media-upload', { uploadId: 'u1', part: 0, data, mimetype: 'a/b' }).message).toContain(
      '/mimetype: only with last',
    );
    expect(refusal('media-upload', { uploadId: 'u/1', part: 0, data }).message).toContain('/uploadId');
  });

  test('a 512 KiB piece fits the media command limit and not the general one', () => {
    const body = { uploadId: 'u1', part: 0, data: Buffer.alloc(512 * 1024).toString('base64') };
    expect(refusal('media-upload', body).code).toBe('PayloadTooLarge');
    expect(parsed('media-upload', body, MAX_MEDIA_COMMAND_BYTES)).toMatchObject({ part: 0 });
    const tooBig = { ...body, data: Buffer.alloc(512 * 1024 + 3).toString('base64') };
    expect(refusal('media-upload', tooBig, MAX_MEDIA_COMMAND_BYTES).message).toContain('/data');
  });
});
