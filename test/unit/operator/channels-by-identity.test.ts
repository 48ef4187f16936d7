import { ChannelsByIdentity } from '../../../operator/src/controller/channels-by-identity.ts';

/** The cluster store's index of claims by clinicId/channelId (the duplicate rule, report routing). */
test('keys by identity: added, listed for their identity only, and removed when the channel goes', () => {
  const index = new ChannelsByIdentity();
  index.set('n1/front', 'clinic-a', 'desk');
  index.set('n2/copy', 'clinic-a', 'desk');
  index.set('n1/other', 'clinic-a', 'other');
  index.set('n1/front', 'clinic-a', 'desk'); // a repeated change adds nothing
  expect(index.keys('clinic-a', 'desk').sort()).toEqual(['n1/front', 'n2/copy']);
  expect(index.keys('clinic-b', 'desk')).toEqual([]);
  index.set('n1/front', undefined, undefined);
  expect(index.keys('clinic-a', 'desk')).toEqual(['n2/copy']);
  // A channel of the same name re-created with another identity moves.
  index.set('n2/copy', 'clinic-a', 'other');
  expect(index.keys('clinic-a', 'desk')).toEqual([]);
  expect(index.keys('clinic-a', 'other').sort()).toEqual(['n1/other', 'n2/copy']);
});
