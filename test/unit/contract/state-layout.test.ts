import { isValidToken } from '../../../contract/tokens.ts';
import {
  channelStatePrefix,
  DATA_KEY_OBJECT,
  isLiveStateName,
  mediaFolderName,
  JOURNAL_DIR,
  journalSlotName,
  LEASE_OBJECT,
  parseSequencedName,
  quarantinePrefix,
  QUARANTINE_DIR,
  SENT_MESSAGES_DIR,
  SNAPSHOT_DIR,
  sentMessageName,
  snapshotName,
} from '../../../contract/state-layout.ts';

/** The one statement of where a channel's state lives, which the worker writes and the operator erases. */
describe('state layout', () => {
  const location = { prefix: 'wa', clinicId: 'clinic-a', channelId: 'main' };

  test('a channel lives under <prefix>/<clinic>/<channel>/, whatever slashes the prefix was given with', () => {
    expect(channelStatePrefix(location)).toBe('wa/clinic-a/main/');
    expect(channelStatePrefix({ ...location, prefix: '/tenants/wa/' })).toBe('tenants/wa/clinic-a/main/');
  });

  test("a quarantined copy lives inside the channel's own prefix, under quarantine/<time>/", () => {
    const at = new Date('2026-01-02T03:04:05.006Z');
    expect(quarantinePrefix(location, at)).toBe('wa/clinic-a/main/quarantine/2026-01-02T03:04:05.006Z/');
    // Inside the clinic's grant (docs/iam.md: <prefix>/<clinic>/*) and the channel's erasure.
    expect(quarantinePrefix(location, at).startsWith(channelStatePrefix(location))).toBe(true);
  });

  test('no valid clinic or channel id reaches a quarantine, and a quarantine reaches no other channel', () => {
    const at = new Date('2026-01-02T03:04:05.006Z');
    // `quarantine` is a valid id: as a clinic or channel it is an ordinary one.
    expect(isValidToken(QUARANTINE_DIR)).toBe(true);
    const others = [
      { prefix: 'wa', clinicId: QUARANTINE_DIR, channelId: 'main' },
      { prefix: 'wa', clinicId: QUARANTINE_DIR, channelId: 'clinic-a' },
      { prefix: 'wa', clinicId: 'clinic-a', channelId: QUARANTINE_DIR },
      { prefix: 'wa', clinicId: 'clinic-a', channelId: 'main-2' },
    ];
    for (const other of others) {
      expect(isValidToken(other.clinicId) && isValidToken(other.channelId)).toBe(true);
      expect(quarantinePrefix(location, at).startsWith(channelStatePrefix(other))).toBe(false);
      expect(quarantinePrefix(other, at).startsWith(channelStatePrefix(location))).toBe(false);
    }
    // The names inside a channel are fixed, and none of them is the quarantine's.
    const fixed = [DATA_KEY_OBJECT, LEASE_OBJECT, JOURNAL_DIR, SNAPSHOT_DIR, SENT_MESSAGES_DIR];
    expect(fixed).not.toContain(QUARANTINE_DIR);
  });

  test('the lease, quarantined copies and media are not live state; everything else is', () => {
    const quarantined = `${QUARANTINE_DIR}/2026-01-02T03:04:05.006Z/`;
    for (const name of [DATA_KEY_OBJECT, journalSlotName(1), snapshotName(2), sentMessageName('m')])
      expect(isLiveStateName(name)).toBe(true);
    for (const name of [
      LEASE_OBJECT,
      `${quarantined}${DATA_KEY_OBJECT}`,
      `${quarantined}${journalSlotName(1)}`,
      `${mediaFolderName('in:3A00')}manifest`,
      `${mediaFolderName('up:x')}part/0`,
    ]) {
      expect(isLiveStateName(name)).toBe(false);
    }
    // A quarantined journal slot or snapshot is never read as one of the channel's.
    expect(parseSequencedName(`${quarantined}${journalSlotName(1)}`)).toBeUndefined();
    expect(parseSequencedName(`${quarantined}${snapshotName(2)}`)).toBeUndefined();
  });

  test('media folders are one per ref, hashed, under media/', () => {
    expect(mediaFolderName('in:3A00')).toMatch(/^media\/[0-9a-f]{40}\/$/);
    expect(mediaFolderName('in:3A00')).not.toBe(mediaFolderName('up:3A00'));
    expect(mediaFolderName('in:../../other')).toMatch(/^media\/[0-9a-f]{40}\/$/);
  });

  test('journal and snapshot names sort in sequence order and parse back', () => {
    expect(journalSlotName(7)).toBe('journal/000000000007');
    expect(snapshotName(12)).toBe('snapshot/000000000012');
    const names = [journalSlotName(10), journalSlotName(9)].sort();
    expect(names.map((n) => parseSequencedName(n)?.seq)).toEqual([9, 10]);
    expect(parseSequencedName(snapshotName(3))).toEqual({ dir: 'snapshot', seq: 3 });
  });

  test('other names are not journal slots or snapshots', () => {
    for (const name of ['datakey', 'lease', 'journal/x', 'journal/1/2', 'snapshots/1', sentMessageName('m')])
      expect(parseSequencedName(name)).toBeUndefined();
  });

  test('a sent message is named by a hash of its id, never by the id', () => {
    const name = sentMessageName('../../other-channel/datakey');
    expect(name).toMatch(/^messages\/[0-9a-f]{40}$/);
    expect(sentMessageName('../../other-channel/datakey')).toBe(name);
    expect(sentMessageName('another id')).not.toBe(name);
  });
});
