/**
 * The session port's outgoing content → what Baileys' `sendMessage` takes. Pure, so every shape
 * the worker can send is checked without a socket. The chat is `jid`: a message named by a
 * command lives in that chat, so its Baileys key is `{remoteJid: jid, id, fromMe, participant}`.
 */
import type { AnyMessageContent, proto } from '@whiskeysockets/baileys';
import type { MessageRef, OutgoingContent, OutgoingMedia } from './session-port.ts';

export function messageKey(jid: string, ref: MessageRef): proto.IMessageKey {
  return {
    remoteJid: jid,
    id: ref.id,
    fromMe: ref.fromMe,
    ...(ref.participant && !ref.fromMe ? { participant: ref.participant } : {}),
  };
}

/** `self`: this account's JID, the sender of a quoted message of ours. */
export function baileysContent(jid: string, content: OutgoingContent, self?: string): AnyMessageContent {
  switch (content.kind) {
    case 'media':
      return mediaContent(content.media);
    case 'text': {
      // linkPreview: null — never fetch URLs found in a patient message (egress, privacy).
      const message: AnyMessageContent = { text: content.text, linkPreview: null };
      if (content.mentions?.length) message.mentions = content.mentions;
      const quoted = content.replyTo;
      if (quoted) {
        // A reply names the quoted message by id and sender; Baileys' `quoted` option would need
        // the whole quoted message, which the worker does not keep for inbound messages.
        message.contextInfo = {
          stanzaId: quoted.id,
          participant: quoted.fromMe ? self : (quoted.participant ?? jid),
          ...(quoted.text ? { quotedMessage: { conversation: quoted.text } } : {}),
        };
      }
      return message;
    }
    case 'reaction':
      return { react: { text: content.emoji, key: messageKey(jid, content.message) } };
    case 'edit':
      return { text: content.text, edit: messageKey(jid, { id: content.messageId, fromMe: true }) };
    case 'revoke':
      return { delete: messageKey(jid, content.message) };
  }
}

/** An attachment as Baileys sends it (it encrypts, uploads through media_conn, and sends). */
function mediaContent(media: OutgoingMedia): AnyMessageContent {
  const { source, mimetype } = media;
  const caption = media.caption ? { caption: media.caption } : {};
  // No thumbnail: without an image library Baileys cannot make one, and asking makes it keep a
  // plaintext copy of the file in the temporary folder while it tries (docs/worker.md, "Media").
  const noThumbnail = { jpegThumbnail: '' };
  switch (media.kind) {
    case 'image':
      return { image: source, mimetype, ...caption, ...noThumbnail };
    case 'video':
      return {
        video: source,
        mimetype,
        ...caption,
        ...noThumbnail,
        ...(media.seconds ? { seconds: media.seconds } : {}),
      };
    case 'audio':
      return {
        audio: source,
        mimetype,
        ptt: media.ptt === true,
        ...(media.seconds ? { seconds: media.seconds } : {}),
      };
    case 'document':
      return { document: source, mimetype, fileName: media.fileName ?? 'file', ...caption };
    case 'sticker':
      return { sticker: source, mimetype };
  }
}
