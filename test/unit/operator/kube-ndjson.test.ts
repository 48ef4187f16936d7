import { LineSplitter } from '../../../operator/src/kube/ndjson.ts';

const events = [
  '{"type":"ADDED","object":{"n":1}}',
  '{"type":"MODIFIED","object":{"n":"é ✓ 𝄞"}}',
  '{"type":"BOOKMARK"}',
];
const stream = Buffer.from(events.join('\n') + '\n');

test('every split of the stream into two chunks gives the same lines, multi-byte characters included', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const s = new LineSplitter();
    const lines = [...s.push(stream.subarray(0, cut)), ...s.push(stream.subarray(cut))];
    expect(lines).toEqual(events);
    expect(s.end()).toBeUndefined();
  }
});

test('one byte at a time: lines come out exactly when their newline arrives', () => {
  const s = new LineSplitter();
  const seen: { at: number; line: string }[] = [];
  for (let i = 0; i < stream.length; i++)
    for (const line of s.push(stream.subarray(i, i + 1))) seen.push({ at: i, line });
  expect(seen.map((x) => x.line)).toEqual(events);
  const newlines = [...stream.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i);
  expect(seen.map((x) => x.at)).toEqual(newlines);
});

test('several lines in one chunk, blank lines and CRLF; a last line without newline comes from end()', () => {
  const s = new LineSplitter();
  expect(s.push(Buffer.from('{"a":1}\r\n\n{"b":2}\n{"c"'))).toEqual(['{"a":1}', '{"b":2}']);
  expect(s.push(Buffer.from(':3}'))).toEqual([]);
  expect(s.end()).toBe('{"c":3}');
  expect(s.end()).toBeUndefined();
});
