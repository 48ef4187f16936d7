/**
 * One client WebSocket: the Noise handshake, then encrypted binary nodes both ways. What the
 * nodes mean is decided elsewhere (hooks); this class only moves them and ends the socket.
 */
import { decodeBinaryNode, encodeBinaryNode } from '@whiskeysockets/baileys';
import type { WebSocket } from 'ws';
import { encodeFrame, FrameReader } from '../protocol/frames.ts';
import { NoiseResponder, type HandshakeResult, type Transport } from '../protocol/noise.ts';
import { assertStringAttrs, type BinaryNode } from '../protocol/nodes.ts';

export interface ConnectionHooks {
  /** The handshake finished; the payload says whether this is a registration or a login. */
  onHandshake(conn: Connection, result: HandshakeResult): Promise<void> | void;
  onNode(conn: Connection, node: BinaryNode): Promise<void> | void;
  onClosed(conn: Connection): void;
  onError(conn: Connection, err: unknown): void;
}

export type ConnectionPhase = 'handshake' | 'ready' | 'closed';

export class Connection {
  readonly id: number;
  readonly remoteAddress: string;
  #phase: ConnectionPhase = 'handshake';
  #silenced = false;
  readonly #ws: WebSocket;
  readonly #hooks: ConnectionHooks;
  readonly #reader = new FrameReader();
  readonly #noise: NoiseResponder;
  #transport: Transport | undefined;
  #handshakeStep = 0;
  /** Frames are handled one at a time, in arrival order (decoding is async). */
  #queue: Promise<void> = Promise.resolve();

  constructor(
    id: number,
    ws: WebSocket,
    remoteAddress: string,
    noise: NoiseResponder,
    hooks: ConnectionHooks,
  ) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.#ws = ws;
    this.#noise = noise;
    this.#hooks = hooks;
    ws.on('message', (data: Buffer) => {
      if (this.#silenced) return;
      this.#queue = this.#queue.then(() => this.#receive(data)).catch((err: unknown) => this.#fail(err));
    });
    ws.on('close', () => this.#closed());
    ws.on('error', (err) => hooks.onError(this, err));
  }

  get phase(): ConnectionPhase {
    return this.#phase;
  }

  get isOpen(): boolean {
    return this.#phase !== 'closed' && this.#ws.readyState === this.#ws.OPEN;
  }

  /** Sends one node, encrypted. Silently dropped once the socket is closed or silenced. */
  send(node: BinaryNode): void {
    if (!this.isOpen || this.#silenced || !this.#transport) return;
    assertStringAttrs(node);
    this.#ws.send(encodeFrame(this.#transport.encrypt(encodeBinaryNode(node))));
  }

  /** Sends a final node (a stream:error or failure), then closes the socket. */
  endWith(node: BinaryNode): void {
    this.send(node);
    this.close();
  }

  /** A clean WebSocket close. */
  close(): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING)
      this.#ws.close();
  }

  /** Drops the TCP connection without a close frame (a network failure, as the client sees it). */
  terminate(): void {
    this.#ws.terminate();
  }

  /** Stops reading and writing: no answers, no pongs. The client's keep-alive must give up. */
  silence(): void {
    this.#silenced = true;
  }

  async #receive(data: Buffer): Promise<void> {
    if (this.#phase === 'closed') return;
    for (const frame of this.#reader.push(data)) {
      if (this.#phase === 'handshake') await this.#handshake(frame);
      else if (this.#transport && !this.#silenced) {
        const node = await decodeBinaryNode(this.#transport.decrypt(frame));
        await this.#hooks.onNode(this, node);
      }
    }
  }

  async #handshake(frame: Buffer): Promise<void> {
    const intro = this.#reader.intro;
    if (!intro) throw new Error('frame before intro header');
    if (this.#handshakeStep++ === 0) {
      this.#ws.send(encodeFrame(this.#noise.respondToHello(intro.waHeader, frame)));
      return;
    }
    const result = this.#noise.finish(frame);
    this.#transport = result.transport;
    this.#phase = 'ready';
    await this.#hooks.onHandshake(this, result);
  }

  #fail(err: unknown): void {
    this.#hooks.onError(this, err);
    this.terminate();
  }

  #closed(): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#hooks.onClosed(this);
  }
}
