/**
 * The channel's NATS subjects (DESIGN.md "NATS subjects").
 * TODO(contract): replace with the shared contract module once it lands.
 */
export interface ChannelSubjects {
  status: string;
  qr: string;
  msgIn: string;
  msgUpdate: string;
  command(verb: string): string;
  /** Subscription for every command verb of the channel. */
  commands: string;
  /** Prefix of command subjects; the verb follows it. */
  commandPrefix: string;
}

export function channelSubjects(clinicId: string, channelId: string): ChannelSubjects {
  const base = `wa.${clinicId}.${channelId}`;
  return {
    status: `${base}.status`,
    qr: `${base}.qr`,
    msgIn: `${base}.msg.in`,
    msgUpdate: `${base}.msg.update`,
    command: (verb) => `${base}.cmd.${verb}`,
    commands: `${base}.cmd.*`,
    commandPrefix: `${base}.cmd.`,
  };
}

/**
 * The JetStream streams of a clinic: one stream per clinic holding the events that must not be
 * lost. TODO(contract): take the layout from the shared contract.
 */
export function clinicStreams(clinicId: string): { name: string; subjects: string[] }[] {
  return [
    {
      name: `WA_${clinicId.toUpperCase().replace(/-/g, '_')}`,
      subjects: [`wa.${clinicId}.*.status`, `wa.${clinicId}.*.msg.in`, `wa.${clinicId}.*.msg.update`],
    },
  ];
}
