// The live log's merge: chunks addressed by UTF-8 byte offsets, replayed from the first offset
// after a reconnect, must give the log once, whole, with no line lost or repeated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atBottom, byteLength, mergeChunk, mergeChunks, type LogChunk } from './live-log.ts';

/** A log cut into chunks of `linesPerChunk` lines, as the server sends it. */
function chunksOf(log: string, linesPerChunk = 1, from = 0): LogChunk[] {
  const lines = log.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const chunks: LogChunk[] = [];
  let offset = 0;
  for (let i = 0; i < lines.length; i += linesPerChunk) {
    const text = lines.slice(i, i + linesPerChunk).join('');
    const next = offset + byteLength(text);
    if (next > from) chunks.push(sliceFrom({ offset, nextOffset: next, text }, from));
    offset = next;
  }
  return chunks;
}

/** The server's cut of a chunk at byte `from`: it starts at the first byte of the character `from` falls in. */
function sliceFrom(c: LogChunk, from: number): LogChunk {
  if (from <= c.offset) return c;
  const bytes = Buffer.from(c.text, 'utf8');
  let start = from - c.offset;
  while (start > 0 && start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start--;
  return { offset: c.offset + start, nextOffset: c.nextOffset, text: bytes.subarray(start).toString('utf8') };
}

const log = ['cloning https://example.org/app.git', 'Résumé: ünïcödé — 日本語のログ', 'emoji 🚀🧪 and a tab\there', '', 'flatpak-builder: done ✓', 'last line without a newline'].join('\n');

test('a chunk after the bytes held is appended whole', () => {
  const m = mergeChunk(0, { offset: 0, nextOffset: 6, text: 'hello\n' });
  assert.deepEqual(m, { kind: 'append', text: 'hello\n', have: 6 });
});

test('a chunk the log already holds is dropped; a partly held one adds only its tail', () => {
  assert.deepEqual(mergeChunk(12, { offset: 0, nextOffset: 6, text: 'hello\n' }), { kind: 'append', text: '', have: 12 });
  assert.deepEqual(mergeChunk(6, { offset: 0, nextOffset: 6, text: 'hello\n' }), { kind: 'append', text: '', have: 6 });
  assert.deepEqual(mergeChunk(6, { offset: 0, nextOffset: 12, text: 'hello\nworld\n' }), { kind: 'append', text: 'world\n', have: 12 });
});

test('overlaps are cut by UTF-8 bytes, not by UTF-16 code units', () => {
  // "é" is 2 bytes, "日" 3, "🚀" 4 (and 2 UTF-16 units)
  const text = 'é日🚀x\n';
  assert.equal(byteLength(text), 2 + 3 + 4 + 1 + 1);
  assert.deepEqual(mergeChunk(2, { offset: 0, text }), { kind: 'append', text: '日🚀x\n', have: 11 });
  assert.deepEqual(mergeChunk(5, { offset: 0, text }), { kind: 'append', text: '🚀x\n', have: 11 });
  assert.deepEqual(mergeChunk(9, { offset: 0, text }), { kind: 'append', text: 'x\n', have: 11 });
  assert.deepEqual(mergeChunk(14, { offset: 4, text }), { kind: 'append', text: '\n', have: 15 });
});

test('a cut inside a multi-byte character moves past it, never yielding a broken character', () => {
  const text = 'a日b\n'; // 日 at bytes 1..3
  for (const have of [2, 3]) {
    const m = mergeChunk(have, { offset: 0, text });
    assert.deepEqual(m, { kind: 'append', text: 'b\n', have: 6 });
    assert.ok(!m.text.includes('\uFFFD'));
  }
});

test('a chunk that starts after the bytes held is a gap, with the missing range', () => {
  assert.deepEqual(mergeChunk(6, { offset: 10, nextOffset: 14, text: 'abc\n' }), { kind: 'gap', from: 6, to: 10 });
});

test('the stream, then a reconnect that replays it from the first offset: the log once', () => {
  const first = chunksOf(log, 1);
  // the connection drops after three chunks; graphql-ws re-subscribes with fromOffset 0
  const received = [...first.slice(0, 3), ...chunksOf(log, 2)];
  const r = mergeChunks(received);
  assert.equal(r.text, log);
  assert.equal(r.have, byteLength(log));
  assert.deepEqual(r.gaps, []);
});

test('replays that start inside a held chunk, in any chunking, give the log once', () => {
  const total = byteLength(log);
  for (let held = 0; held <= total; held++) {
    // the first `held` bytes came in one-line chunks, cut where the server would cut them
    const before = chunksOf(log, 1).filter((c) => c.offset < held).map((c) => sliceFrom(c, 0));
    const start = mergeChunks(before);
    // then a replay from a byte offset inside what is held, in chunks of three lines
    const replayFrom = Math.max(0, held - 7);
    const r = mergeChunks(chunksOf(log, 3, replayFrom), start);
    assert.equal(r.text, log, `held ${held}, replay from ${replayFrom}`);
    assert.equal(r.have, total);
    assert.ok(!r.text.includes('\uFFFD'));
  }
});

test('multi-byte characters at chunk boundaries survive every split point', () => {
  const text = '🚀é日\n'.repeat(5);
  const bytes = Buffer.from(text, 'utf8');
  // every way of splitting the log into two chunks at a character boundary, the second sent twice
  for (let i = 0; i <= text.length; i++) {
    if (i > 0 && i < text.length && /[\uDC00-\uDFFF]/.test(text[i]!)) continue; // inside a surrogate pair: not a split a string can make
    const a = text.slice(0, i);
    const b = text.slice(i);
    const ao = byteLength(a);
    const chunks: LogChunk[] = [
      { offset: 0, nextOffset: ao, text: a },
      { offset: ao, nextOffset: bytes.length, text: b },
      { offset: 0, nextOffset: bytes.length, text },
      { offset: ao, nextOffset: bytes.length, text: b },
    ];
    const r = mergeChunks(chunks);
    assert.equal(r.text, text, `split at ${i}`);
    assert.equal(r.have, bytes.length);
  }
});

test('an empty chunk changes nothing', () => {
  assert.deepEqual(mergeChunk(4, { offset: 4, nextOffset: 4, text: '' }), { kind: 'append', text: '', have: 4 });
  assert.deepEqual(mergeChunks([{ offset: 0, text: '' }]), { text: '', have: 0, gaps: [] });
});

test('a gap is reported and the chunk after it is still shown', () => {
  const r = mergeChunks([
    { offset: 0, text: 'a\n' },
    { offset: 4, text: 'c\n' },
  ]);
  assert.deepEqual(r, { text: 'a\nc\n', have: 6, gaps: [{ from: 2, to: 4 }] });
});

test('atBottom: within the slack of the end', () => {
  assert.equal(atBottom({ scrollTop: 0, clientHeight: 100, scrollHeight: 100 }), true);
  assert.equal(atBottom({ scrollTop: 395, clientHeight: 100, scrollHeight: 500 }), true);
  assert.equal(atBottom({ scrollTop: 300, clientHeight: 100, scrollHeight: 500 }), false);
});
