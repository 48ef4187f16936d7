import {
  channelStatePrefix,
  journalSlotName,
  parseSequencedName,
  quarantinePrefix,
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

  test('a quarantined copy lives beside the channels, under quarantine/<clinic>/<channel>/<time>/', () => {
    expect(quarantinePrefix(location, new Date('2026-01-02T03:04:05.006Z'))).toBe(
      'wa/quarantine/clinic-a/main/2026-01-02T03:04:05.006Z/',
    );
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
