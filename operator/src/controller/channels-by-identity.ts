/**
 * Channel keys by clinicId/channelId: the claims of one identity without scanning every
 * channel (the duplicate rule, identity.ts), and where a worker's status report belongs.
 */
export class ChannelsByIdentity {
  private readonly byIdentity = new Map<string, Set<string>>();
  private readonly identityOf = new Map<string, string>();

  /** Records the channel `key` under its identity; `undefined` = the channel is gone. */
  set(key: string, clinicId: string | undefined, channelId: string | undefined): void {
    const before = this.identityOf.get(key);
    const now = clinicId !== undefined && channelId !== undefined ? `${clinicId}/${channelId}` : undefined;
    if (before === now) return;
    if (before !== undefined) {
      const keys = this.byIdentity.get(before);
      keys?.delete(key);
      if (keys?.size === 0) this.byIdentity.delete(before);
      this.identityOf.delete(key);
    }
    if (now === undefined) return;
    this.identityOf.set(key, now);
    const keys = this.byIdentity.get(now) ?? new Set<string>();
    keys.add(key);
    this.byIdentity.set(now, keys);
  }

  keys(clinicId: string, channelId: string): string[] {
    return [...(this.byIdentity.get(`${clinicId}/${channelId}`) ?? [])];
  }
}
