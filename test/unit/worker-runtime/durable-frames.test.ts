import { holdFramesUntilDurable } from '../../../worker/src/session/durable-frames.ts';

/** A stand-in for Baileys' client: `socket` is the raw WebSocket whose send we hold back. */
function client() {
  const sent: string[] = [];
  const ws = {
    socket: { send: (data: unknown, cb?: (err?: Error) => void) => (sent.push(String(data)), cb?.()) },
  };
  return { ws, sent };
}

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('holding frames until the state is durable', () => {
  test('a frame goes out at once when nothing is pending, and waits (in order) while a commit is', async () => {
    const { ws, sent } = client();
    let pending: Promise<void> | undefined;
    holdFramesUntilDurable(ws, { whenDurable: () => pending, onFailure: () => undefined });
    ws.socket.send('ping');
    expect(sent).toEqual(['ping']);
    const commit = deferred();
    pending = commit.promise;
    ws.socket.send('receipt-1');
    pending = undefined; // durable meanwhile by its own account, but an earlier frame still waits
    ws.socket.send('receipt-2');
    await tick();
    expect(sent).toEqual(['ping']);
    commit.resolve();
    await tick();
    expect(sent).toEqual(['ping', 'receipt-1', 'receipt-2']);
  });

  test('a failed commit refuses that frame and every later one, and reports the failure once', async () => {
    const { ws, sent } = client();
    const commit = deferred();
    const failures: unknown[] = [];
    holdFramesUntilDurable(ws, { whenDurable: () => commit.promise, onFailure: (e) => failures.push(e) });
    const errors: (Error | undefined)[] = [];
    // Held frames are reported as handed over at once (Baileys awaits it in its message mutex).
    ws.socket.send('receipt-1', (e) => errors.push(e));
    ws.socket.send('receipt-2', (e) => errors.push(e));
    expect(errors).toEqual([undefined, undefined]);
    commit.reject(new Error('S3 down'));
    await tick();
    ws.socket.send('later', (e) => errors.push(e));
    expect(sent).toEqual([]);
    expect(errors.map((e) => e?.message)).toEqual([undefined, undefined, 'S3 down']);
    expect(failures).toHaveLength(1);
  });

  test('a client without a raw socket is refused loudly (a Baileys change would otherwise skip the hold)', () => {
    expect(() =>
      holdFramesUntilDurable({}, { whenDurable: () => undefined, onFailure: () => undefined }),
    ).toThrow(/no raw WebSocket/);
  });
});
