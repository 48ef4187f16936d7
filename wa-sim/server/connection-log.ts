/**
 * Every client connection the simulator has seen, with its times and how it ended, so a test
 * can assert "never two live connections for one device" after the fact.
 *
 * A connection is *live* for a device from the moment the server accepts its login until its
 * socket closes. Concurrency is decided when a login is accepted, from the set of connections
 * live at that instant, so two logins in the same millisecond are never confused with a clean
 * reconnect (and no clock resolution is involved).
 */

export type ConnectionKind = 'pending' | 'registration' | 'login' | 'rejected';

export interface ConnectionRecord {
  id: number;
  kind: ConnectionKind;
  remoteAddress: string;
  /** Device JID ("<pn>:<device>@s.whatsapp.net") once known: at login, or when pairing completed. */
  device?: string;
  /** The WhatsApp Web version the client announced in its login or registration payload. */
  version?: string;
  connectedAt: number;
  /** Login accepted (`success` sent). */
  liveAt?: number;
  closedAt?: number;
  /** Why the server ended it ("replaced", "logged-out", "restart-required", …) or "client-closed". */
  endReason?: string;
  /** Other connections of the same device that were still live when this login was accepted. */
  concurrentWith?: number[];
}

export interface Overlap {
  device: string;
  /** The connection whose login was accepted while the others were live. */
  connection: number;
  concurrentWith: number[];
  at: number;
}

export class ConnectionLog {
  readonly #records = new Map<number, ConnectionRecord>();

  opened(id: number, remoteAddress: string, at = Date.now()): void {
    this.#records.set(id, { id, kind: 'pending', remoteAddress, connectedAt: at });
  }

  update(id: number, patch: Partial<Pick<ConnectionRecord, 'kind' | 'device' | 'version'>>): void {
    const record = this.#records.get(id);
    if (record) Object.assign(record, patch);
  }

  /** The login of `device` was accepted; returns the connections it is concurrent with. */
  loggedIn(id: number, device: string, at = Date.now()): number[] {
    const record = this.#records.get(id);
    if (!record) return [];
    const others = this.live(device).map((r) => r.id);
    Object.assign(record, { kind: 'login', device, liveAt: at, concurrentWith: others });
    return others;
  }

  /** Records why the server is ending a connection (the first reason wins). */
  ending(id: number, reason: string): void {
    const record = this.#records.get(id);
    if (record && !record.endReason) record.endReason = reason;
  }

  closed(id: number, at = Date.now()): void {
    const record = this.#records.get(id);
    if (!record || record.closedAt !== undefined) return;
    record.closedAt = at;
    record.endReason ??= 'client-closed';
  }

  /** Copies of all records, oldest first, optionally for one device. */
  records(device?: string): ConnectionRecord[] {
    return [...this.#records.values()]
      .filter((r) => !device || r.device === device)
      .map((r) => ({ ...r, ...(r.concurrentWith ? { concurrentWith: [...r.concurrentWith] } : {}) }));
  }

  live(device?: string): ConnectionRecord[] {
    return this.records(device).filter((r) => r.liveAt !== undefined && r.closedAt === undefined);
  }

  /** Every login accepted while another connection of the same device was live. */
  overlaps(device?: string): Overlap[] {
    return this.records(device)
      .filter((r) => r.concurrentWith?.length)
      .map((r) => ({
        device: r.device!,
        connection: r.id,
        concurrentWith: r.concurrentWith!,
        at: r.liveAt!,
      }));
  }

  /** The largest number of simultaneously live connections of one device (0 if it never logged in). */
  maxConcurrent(device: string): number {
    // The live count only grows when a login is accepted, so its maximum is reached at one.
    return Math.max(
      0,
      ...this.records(device).map((r) => (r.liveAt === undefined ? 0 : 1 + r.concurrentWith!.length)),
    );
  }
}
