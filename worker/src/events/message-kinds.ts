/**
 * What an inbound message is, typed for `msg.in` (its `kind` and the fields of that kind), so a
 * clinic backend need not read WhatsApp's protobuf JSON (which stays in `message`): replies
 * with the quoted id, mentions, reactions, edits, revokes, locations, contact cards, polls and
 * poll votes. Pure.
 */
import { proto } from '@whiskeysockets/baileys';
import type { InboundMessageEvent } from '../../../contract/index.ts';

export type TypedFields = Pick<
  InboundMessageEvent,
  | 'kind'
  | 'quoted'
  | 'mentions'
  | 'reaction'
  | 'edit'
  | 'revoke'
  | 'location'
  | 'contacts'
  | 'poll'
  | 'pollVote'
>;

const MEDIA = [
  'imageMessage',
  'videoMessage',
  'audioMessage',
  'documentMessage',
  'stickerMessage',
  'ptvMessage',
];

/** The typed fields of a message's content (already normalised: no ephemeral/view-once wrapper). */
export function typedFields(content: proto.IMessage | null | undefined): TypedFields {
  if (!content) return { kind: 'other' };
  return { ...kindOf(content), ...contextOf(content) };
}

function kindOf(c: proto.IMessage): TypedFields {
  if (c.reactionMessage) {
    const key = c.reactionMessage.key;
    return {
      kind: 'reaction',
      reaction: {
        messageId: key?.id ?? '',
        emoji: c.reactionMessage.text ?? '',
        ...(key?.fromMe !== undefined && key?.fromMe !== null ? { messageFromMe: key.fromMe } : {}),
        ...(key?.participant ? { messageSender: key.participant } : {}),
      },
    };
  }
  const protocol = c.protocolMessage;
  if (protocol?.type === proto.Message.ProtocolMessage.Type.REVOKE)
    return { kind: 'revoke', revoke: { messageId: protocol.key?.id ?? '' } };
  if (protocol?.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT) {
    const edited = protocol.editedMessage;
    const text = edited?.conversation ?? edited?.extendedTextMessage?.text ?? undefined;
    return { kind: 'edit', edit: { messageId: protocol.key?.id ?? '', ...(text ? { text } : {}) } };
  }
  const location = c.locationMessage ?? c.liveLocationMessage;
  if (location) {
    const place = c.locationMessage;
    return {
      kind: 'location',
      location: {
        latitude: location.degreesLatitude ?? 0,
        longitude: location.degreesLongitude ?? 0,
        ...(place?.name ? { name: place.name } : {}),
        ...(place?.address ? { address: place.address } : {}),
        ...(place?.url ? { url: place.url } : {}),
        live: !!c.liveLocationMessage || place?.isLive === true,
      },
    };
  }
  const cards = c.contactMessage ? [c.contactMessage] : (c.contactsArrayMessage?.contacts ?? undefined);
  if (cards) {
    return {
      kind: 'contact',
      contacts: cards.map((card) => ({
        ...(card.displayName ? { displayName: card.displayName } : {}),
        ...(card.vcard ? { vcard: card.vcard } : {}),
      })),
    };
  }
  const poll = c.pollCreationMessage ?? c.pollCreationMessageV2 ?? c.pollCreationMessageV3;
  if (poll) {
    return {
      kind: 'poll',
      poll: {
        name: poll.name ?? '',
        options: (poll.options ?? []).map((o) => o.optionName ?? ''),
        ...(poll.selectableOptionsCount !== undefined && poll.selectableOptionsCount !== null
          ? { selectableCount: poll.selectableOptionsCount }
          : {}),
      },
    };
  }
  if (c.pollUpdateMessage)
    return { kind: 'poll-vote', pollVote: { pollId: c.pollUpdateMessage.pollCreationMessageKey?.id ?? '' } };
  if (MEDIA.some((f) => (c as Record<string, unknown>)[f])) return { kind: 'media' };
  if (c.conversation !== undefined && c.conversation !== null) return { kind: 'text' };
  if (c.extendedTextMessage) return { kind: 'text' };
  return { kind: 'other' };
}

/** Reply and mentions: the contextInfo of whichever content field carries one. */
function contextOf(c: proto.IMessage): TypedFields {
  const info = Object.values(c).find(
    (v): v is { contextInfo: proto.IContextInfo } =>
      typeof v === 'object' &&
      v !== null &&
      'contextInfo' in v &&
      !!(v as { contextInfo?: unknown }).contextInfo,
  )?.contextInfo;
  if (!info) return {};
  const out: TypedFields = {};
  if (info.stanzaId) {
    const quoted = info.quotedMessage;
    const text = quoted?.conversation ?? quoted?.extendedTextMessage?.text ?? undefined;
    out.quoted = {
      id: info.stanzaId,
      ...(info.participant ? { sender: info.participant } : {}),
      ...(text ? { text } : {}),
    };
  }
  if (info.mentionedJid?.length) out.mentions = [...info.mentionedJid];
  return out;
}
