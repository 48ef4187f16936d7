import { environment, SettingsReader } from '../../../contract/settings-reader.ts';

/** The operator and the worker read their settings with it: every problem is collected, each with its source. */
describe('SettingsReader', () => {
  test('reports every problem at once, naming each setting where its value came from', () => {
    const r = new SettingsReader(
      environment({
        PORT: '99999',
        MODE: 'fast',
        ON: 'maybe',
        URL: 'minio:9000',
        DIR: 'state',
        NAME: 'Bad_Name',
        MAP: '{"a":1}',
      }),
    );
    expect(r.integer('PORT', 8080, 1, 65_535)).toBe(8080);
    expect(r.oneOf('MODE', ['slow', 'safe'], 'safe')).toBe('safe');
    expect(r.bool('ON', true)).toBe(true);
    expect(r.url('URL', ['http:', 'https:'])).toBe('minio:9000');
    expect(r.absolutePath('DIR')).toBe('state');
    expect(r.matching('NAME', /^[a-z]+$/, 'lowercase letters')).toBe('Bad_Name');
    expect(r.stringMap('MAP', () => true, 'a JSON object of strings')).toEqual({});
    expect(r.required('MISSING', 'what it is for')).toBe('');
    expect(r.errors).toEqual([
      'PORT="99999" must be an integer from 1 to 65535',
      'MODE="fast" must be one of slow, safe',
      'ON="maybe" must be true or false',
      'URL="minio:9000" must be a URL starting with http: or https:',
      'DIR="state" must be an absolute path',
      'NAME="Bad_Name" is not valid: lowercase letters',
      'MAP must be a JSON object of strings',
      'MISSING is required (what it is for)',
    ]);
  });

  test('valid and unset settings give their values and fallbacks, blank counts as unset', () => {
    const r = new SettingsReader(
      environment({ PORT: ' 8081 ', GRACE: '25', ON: '0', URL: 'https://s3', MAP: '{"a":"b"}', BLANK: '  ' }),
    );
    expect(r.integer('PORT', 8080, 1, 65_535)).toBe(8081);
    expect(r.seconds('GRACE', 10, 1, 600)).toBe(25_000);
    expect(r.bool('ON', true)).toBe(false);
    expect(r.url('URL', ['https:'])).toBe('https://s3');
    expect(r.stringMap('MAP', () => true, '')).toEqual({ a: 'b' });
    expect(r.text('BLANK')).toBeUndefined();
    expect(r.matching('UNSET', /x/, 'x', 'default')).toBe('default');
    expect(r.errors).toEqual([]);
  });

  test('a source with flags names the flag a value came from, and both ways of setting a missing one', () => {
    const flags: Record<string, string> = { port: 'x' };
    const r = new SettingsReader<'port' | 'url'>({
      value: (key) => flags[key],
      source: (key) => `--${key}`,
      missing: (key) => `${key.toUpperCase()} (or --${key})`,
    });
    r.integer('port', 1, 1, 2);
    r.required('url', 'the server');
    expect(r.errors).toEqual([
      '--port="x" must be an integer from 1 to 2',
      'URL (or --url) is required (the server)',
    ]);
  });
});
