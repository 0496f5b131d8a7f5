import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { multipartBoundary, partFilename, readMultipart } from './multipart.ts';

const BOUNDARY = 'fmd0123456789abcdef';

/** A multipart body as the Python client (multipart/mixed, attachment) or the Rust one (form-data) sends it. */
function body(files: Array<{ name: string; bytes: Buffer }>, style: 'python' | 'rust', boundary = BOUNDARY): Buffer {
  const parts = files.map((f, i) => [
    Buffer.from(
      `--${boundary}\r\n` +
        (style === 'python'
          ? `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=${f.name}\r\n\r\n`
          : `Content-Disposition: form-data; name="file${i}"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    ),
    f.bytes,
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...parts.flat(), Buffer.from(`--${boundary}--\r\n`)]);
}

/** `data` in chunks whose sizes come from `size()`, as a request stream delivers it. */
async function* chunked(data: Buffer, size: () => number): AsyncGenerator<Buffer> {
  for (let p = 0; p < data.length;) {
    const n = Math.max(1, size());
    yield data.subarray(p, p + n);
    p += n;
  }
}

async function readAll(source: AsyncIterable<Buffer>, boundary = BOUNDARY) {
  const out: Array<{ filename: string; bytes: Buffer }> = [];
  for await (const part of readMultipart(source, boundary)) {
    const chunks: Buffer[] = [];
    for await (const c of part.body) chunks.push(Buffer.from(c)); // copies: the reader may hand out views of its buffers
    out.push({ filename: part.filename, bytes: Buffer.concat(chunks) });
  }
  return out;
}

// Contents that look like the start of a delimiter at every length, so that a read ending
// anywhere inside them must be held back and joined with the next one.
const delimiter = Buffer.from(`\r\n--${BOUNDARY}`);
const tricky = [
  randomBytes(70_000),
  Buffer.alloc(0),
  Buffer.from('\r'),
  Buffer.from('\r\n--'),
  ...Array.from({ length: delimiter.length - 1 }, (_, n) => Buffer.concat([randomBytes(10), delimiter.subarray(0, n + 1)])),
  Buffer.concat([delimiter.subarray(0, delimiter.length - 1), Buffer.from('x'), delimiter.subarray(0, 5)]),
  Buffer.from(`--${BOUNDARY}`), // a boundary without the CRLF before it is content
];
const files = tricky.map((bytes, i) => ({ name: `${String(i).padStart(64, '0')}.filez`, bytes }));

for (const style of ['python', 'rust'] as const) {
  test(`${style} parts come back intact however the body is split into reads`, async () => {
    const data = body(files, style);
    const splits: Array<[string, () => number]> = [
      ['whole', () => data.length],
      ['64 KiB', () => 64 * 1024],
      ['1 byte', () => 1],
      ['7 bytes', () => 7],
      ['random', () => 1 + Math.floor(Math.random() * 300)],
    ];
    for (const [label, size] of splits) {
      const parts = await readAll(chunked(data, size));
      assert.deepEqual(parts.map((p) => p.filename), files.map((f) => f.name), label);
      parts.forEach((p, i) => assert.ok(p.bytes.equals(files[i]!.bytes), `${label}: part ${i}`));
    }
  });
}

test('a preamble before the first boundary is skipped', async () => {
  const data = Buffer.concat([Buffer.from('This is a multipart message.\r\n'), body(files.slice(0, 2), 'python')]);
  assert.deepEqual((await readAll(chunked(data, () => 5))).map((p) => p.filename), files.slice(0, 2).map((f) => f.name));
});

test('a body cut off anywhere is an error, never a short part', async () => {
  const data = body(files.slice(0, 3), 'rust');
  const closing = data.length - `--${BOUNDARY}--\r\n`.length;
  for (const cut of [0, 10, 100, 500, 70_000, closing - 3, closing + 2]) {
    await assert.rejects(readAll(chunked(data.subarray(0, cut), () => 4096)), /ended early|no multipart boundary/, `cut at ${cut}`);
  }
});

test('a part without a filename is refused', async () => {
  const data = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file0"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`);
  await assert.rejects(readAll(chunked(data, () => data.length)), /no filename/);
});

test('boundaries and file names are read from both header styles', () => {
  assert.equal(multipartBoundary('multipart/mixed; boundary=abc'), 'abc');
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), 'a b');
  assert.equal(multipartBoundary('application/json'), null);
  assert.equal(multipartBoundary('multipart/mixed'), null);
  assert.equal(partFilename('attachment; filename=abc.filez'), 'abc.filez');
  assert.equal(partFilename('form-data; name="file0"; filename="abc.filez"'), 'abc.filez');
  assert.equal(partFilename(`attachment; filename*=UTF-8''a%2Fb`), 'a/b');
  assert.equal(partFilename('form-data; name="file0"'), null);
});
