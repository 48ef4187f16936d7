import {
  CommitAbandonedError,
  GroupCommit,
  type CommitBatch,
} from '../../../worker/src/auth-store/group-commit.ts';

/** A journal stand-in: each write waits until the test lets it land (or fail). */
function journal() {
  const writes: { batch: CommitBatch; land: () => void; fail: (e: Error) => void }[] = [];
  const write = (batch: CommitBatch) =>
    new Promise<void>((land, fail) => void writes.push({ batch, land, fail }));
  return { writes, write };
}
const tick = () => new Promise((r) => setImmediate(r));
const k = (id: string, v: string | null) => ({ session: { [id]: v } });

describe('group commit of key transactions', () => {
  test('changes made while a write is in flight share the next write, merged in order', async () => {
    const j = journal();
    const commits = new GroupCommit({ write: j.write });
    const first = commits.add({ keys: k('a', '1') });
    await tick();
    expect(j.writes).toHaveLength(1);
    const second = commits.add({ keys: k('a', '2') });
    const third = commits.add({ keys: k('b', '1'), creds: new Uint8Array([7]) });
    const fourth = commits.add({ keys: k('a', null) });
    // Visible at once, before durable: the newest pending value wins (null = deleted).
    expect(commits.read('session', 'a')).toEqual({ found: true, value: null });
    expect(commits.read('session', 'b')).toEqual({ found: true, value: '1' });
    expect(commits.read('session', 'c').found).toBe(false);
    j.writes[0]!.land();
    await first;
    await tick();
    expect(j.writes).toHaveLength(2);
    expect(j.writes[1]!.batch).toEqual({
      keys: { session: { a: null, b: '1' } },
      creds: new Uint8Array([7]),
    });
    j.writes[1]!.land();
    await Promise.all([second, third, fourth]);
    expect(commits.whenDurable()).toBeUndefined();
    expect(commits.read('session', 'b').found).toBe(false); // durable now: the caller's own state answers
  });

  test('a batch waits for what it was told to commit after, and fails if that fails', async () => {
    const j = journal();
    const commits = new GroupCommit({ write: j.write });
    let ack!: () => void;
    commits.commitAfter(new Promise<void>((r) => (ack = r)));
    const done = commits.add({ keys: k('a', '1') });
    await tick();
    expect(j.writes).toHaveLength(0); // the JetStream ack has not come
    ack();
    await tick();
    j.writes[0]!.land();
    await done;

    commits.commitAfter(Promise.reject(new Error('publish refused')));
    await expect(commits.add({ keys: k('a', '2') })).rejects.toThrow('publish refused');
    expect(j.writes).toHaveLength(1);
  });

  test('a failed write fails the batches behind it, drops their changes, and marks the pipeline failed until reset', async () => {
    const j = journal();
    const commits = new GroupCommit({ write: j.write });
    const first = commits.add({ keys: k('a', '1') });
    await tick();
    const behind = commits.add({ keys: k('b', '1') });
    const durable = commits.whenDurable()!;
    j.writes[0]!.fail(new Error('S3 down'));
    await expect(first).rejects.toThrow('S3 down');
    await expect(behind).rejects.toBeInstanceOf(CommitAbandonedError);
    await expect(durable).rejects.toBeInstanceOf(CommitAbandonedError);
    expect(j.writes).toHaveLength(1); // the batch behind was never written
    expect(commits.read('session', 'a').found).toBe(false);
    expect(commits.read('session', 'b').found).toBe(false);
    expect(commits.hasFailed).toBe(true);
    await expect(commits.whenDurable()).rejects.toBeInstanceOf(CommitAbandonedError);

    // A caller that waits for each change goes on; a new socket resets the pipeline.
    const later = commits.add({ keys: k('c', '1') });
    await tick();
    j.writes[1]!.land();
    await later;
    commits.reset();
    expect(commits.hasFailed).toBe(false);
    expect(commits.whenDurable()).toBeUndefined();
  });
});
