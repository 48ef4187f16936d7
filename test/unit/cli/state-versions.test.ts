import {
  latestVersions,
  lostBefore,
  versionsAt,
  type ObjectVersion,
} from '../../../cli/commands/state/versions.ts';

/** The restore point's version set, from a bucket's history (newest first per key, as listed). */
const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 11, 0, s));
const v = (key: string, versionId: string, s: number, deleted = false): ObjectVersion => ({
  key,
  versionId,
  lastModified: at(s),
  deleted,
});
const history: ObjectVersion[] = [
  v('c/datakey', 'd2', 30), // re-wrapped at 30
  v('c/datakey', 'd1', 1),
  v('c/journal/1', 'x', 20, true), // deleted at 20 (a quarantine)
  v('c/journal/1', 'j1', 2),
  v('c/journal/2', 'j2b', 25), // written again after the quarantine
  v('c/journal/2', 'm', 20, true),
  v('c/journal/2', 'j2', 3),
  v('c/journal/3', 'gone', 20, true), // its version of 10 expired: only the marker is left
  v('c/snapshot/9', 's9', 26),
];

test('versionsAt takes the newest version written at or before the moment, and leaves out deleted or later keys', () => {
  const ids = (m: Map<string, ObjectVersion>) => Object.fromEntries([...m].map(([k, x]) => [k, x.versionId]));
  expect(ids(versionsAt(history, at(10)))).toEqual({
    'c/datakey': 'd1',
    'c/journal/1': 'j1',
    'c/journal/2': 'j2',
  });
  expect(ids(versionsAt(history, at(20)))).toEqual({ 'c/datakey': 'd1' });
  expect(ids(versionsAt(history, at(3)))).toEqual({
    'c/datakey': 'd1',
    'c/journal/1': 'j1',
    'c/journal/2': 'j2',
  });
  expect(ids(versionsAt(history, at(2)))).toEqual({ 'c/datakey': 'd1', 'c/journal/1': 'j1' });
  expect(ids(latestVersions(history))).toEqual({
    'c/datakey': 'd2',
    'c/journal/2': 'j2b',
    'c/snapshot/9': 's9',
  });
});

test('lostBefore names keys whose history starts with a delete marker after the moment (a version expired)', () => {
  expect(lostBefore(history, at(10))).toEqual(['c/journal/3']);
  // After the marker, nothing of that key belongs to the moment: nothing is lost.
  expect(lostBefore(history, at(21))).toEqual([]);
});
