/**
 * The WebSocket endpoint clients connect to (any path). Every upgrade is accepted: refusing
 * one with an HTTP error leaves Baileys "connecting" forever, so refusals happen inside the
 * protocol (failure / stream:error) instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { buildCertChain, type TrustRoot } from '../protocol/cert-chain.ts';
import { NoiseResponder } from '../protocol/noise.ts';
import { generateKeyPair } from '../signal/libsignal.ts';
import { Connection } from './connection.ts';
import type { Hub } from './hub.ts';

export interface Listener {
  url: string;
  close(): Promise<void>;
}

export async function listen(hub: Hub, root: TrustRoot, host: string, port: number): Promise<Listener> {
  // One static key and certificate chain per server, as a real edge server has.
  const serverStatic = generateKeyPair();
  const certChain = buildCertChain(root, serverStatic.public);
  const http: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
  });
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  let nextId = 1;
  wss.on('connection', (ws, req) => {
    const conn = new Connection(
      nextId++,
      ws,
      `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      new NoiseResponder(serverStatic, certChain),
      hub,
    );
    hub.connected(conn);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  return {
    url: `ws://${host}:${address.port}/ws/chat`,
    close: async () => {
      hub.closeAll();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
